"""Disputes reads: for a seller, for an order (its buyer sees them), for the operator; open counts."""

from __future__ import annotations

from sqlalchemy import func, select

from bazaar.db.uow import UnitOfWork
from bazaar.disputes.models import Dispute, DisputeSeller
from bazaar.disputes.schemas import DisputeRead
from bazaar.kernel.schemas import Page, money
from bazaar.orders.schemas import DisputeSummary, OrderRead

OPEN = ("open", "under_review")


async def dispute_read(uow: UnitOfWork, d: Dispute) -> DisputeRead:
    sellers = await uow.session.execute(select(DisputeSeller.seller_id).where(DisputeSeller.dispute_id == d.id))
    return DisputeRead(
        id=d.id, order_id=d.order_id, status=d.status, amount=money(d.amount, d.currency), fee=money(d.fee, d.currency),
        reason=d.reason, evidence=d.evidence, evidence_at=d.evidence_at, seller_ids=sorted(sellers.scalars()),
        opened_at=d.opened_at, closed_at=d.closed_at,
    )  # fmt: skip


async def list_disputes(
    *, uow: UnitOfWork, seller_id: str | None, status: str | None, page: int, per_page: int
) -> Page[DisputeRead]:
    query = select(Dispute)
    if seller_id:
        query = query.join(DisputeSeller, DisputeSeller.dispute_id == Dispute.id).where(
            DisputeSeller.seller_id == seller_id
        )
    if status == "open":
        query = query.where(Dispute.status.in_(OPEN))
    elif status:
        query = query.where(Dispute.status == status)
    total = int((await uow.session.execute(select(func.count()).select_from(query.subquery()))).scalar_one())
    rows = await uow.session.execute(
        query.order_by(Dispute.opened_at.desc(), Dispute.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    items = [await dispute_read(uow, d) for d in rows.scalars()]
    return Page[DisputeRead](items=items, total=total, page=page, per_page=per_page)


async def for_order(*, uow: UnitOfWork, order_id: str) -> list[DisputeRead]:
    rows = await uow.session.execute(select(Dispute).where(Dispute.order_id == order_id).order_by(Dispute.opened_at))
    return [await dispute_read(uow, d) for d in rows.scalars()]


async def open_counts(*, uow: UnitOfWork, seller_ids: list[str] | None = None) -> dict[str, int]:
    """Open disputes per seller (all sellers when None), and the marketplace's total under the key ``""``."""
    query = (
        select(DisputeSeller.seller_id, func.count())
        .join(Dispute, Dispute.id == DisputeSeller.dispute_id)
        .where(Dispute.status.in_(OPEN))
        .group_by(DisputeSeller.seller_id)
    )
    if seller_ids is not None:
        query = query.where(DisputeSeller.seller_id.in_(seller_ids))
    counts = {str(s): int(n) for s, n in await uow.session.execute(query)}
    total = await uow.session.execute(select(func.count()).select_from(Dispute).where(Dispute.status.in_(OPEN)))
    counts[""] = int(total.scalar_one())
    return counts


async def with_disputes(*, uow: UnitOfWork, order: OrderRead) -> OrderRead:
    """The order with its disputes (buyers, sellers and the operator see them on the order)."""
    found = await for_order(uow=uow, order_id=order.id)
    if not found:
        return order
    summaries = [
        DisputeSummary(
            id=d.id, status=d.status, amount=d.amount, reason=d.reason, opened_at=d.opened_at, closed_at=d.closed_at
        )  # fmt: skip
        for d in found
    ]
    return order.model_copy(update={"disputes": summaries})


async def counts_by_status(*, uow: UnitOfWork) -> dict[str, tuple[int, int]]:
    """status -> (disputes, amount in minor units), for /metrics."""
    rows = await uow.session.execute(
        select(Dispute.status, func.count(), func.coalesce(func.sum(Dispute.amount), 0)).group_by(Dispute.status)
    )
    found = {str(s): (int(n), int(a)) for s, n, a in rows}
    return {s: found.get(s, (0, 0)) for s in ("open", "under_review", "won", "lost")}
