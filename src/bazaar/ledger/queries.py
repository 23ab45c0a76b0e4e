"""Ledger reads: a seller's entries and payouts, all payouts, the marketplace's totals."""

from __future__ import annotations

from sqlalchemy import func, select

from bazaar.db.uow import UnitOfWork
from bazaar.kernel.schemas import Page, money
from bazaar.ledger.models import LedgerEntry, Payout, PayoutRun
from bazaar.ledger.schemas import EntryRead, PayoutRead, PayoutRunRead


async def seller_entries(*, uow: UnitOfWork, seller_id: str, page: int, per_page: int) -> Page[EntryRead]:
    where = (LedgerEntry.account == "seller", LedgerEntry.seller_id == seller_id)
    total = int((await uow.session.execute(select(func.count()).select_from(LedgerEntry).where(*where))).scalar_one())
    rows = await uow.session.execute(
        select(LedgerEntry)
        .where(*where)
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    items = [
        EntryRead(
            id=e.id, kind=e.kind, amount=money(e.amount, e.currency), order_id=e.order_id, dispute_id=e.dispute_id,
            payout_id=e.payout_id, created_at=e.created_at, available_at=e.available_at,
        )
        for e in rows.scalars()
    ]  # fmt: skip
    return Page[EntryRead](items=items, total=total, page=page, per_page=per_page)


def payout_read(p: Payout) -> PayoutRead:
    return PayoutRead(
        id=p.id, seller_id=p.seller_id, amount=money(p.amount, p.currency), status=p.status,
        destination=p.destination, failure_code=p.failure_code, created_at=p.created_at,
    )  # fmt: skip


async def payouts(*, uow: UnitOfWork, seller_id: str | None, page: int, per_page: int) -> Page[PayoutRead]:
    where = [Payout.seller_id == seller_id] if seller_id else []
    total = int((await uow.session.execute(select(func.count()).select_from(Payout).where(*where))).scalar_one())
    rows = await uow.session.execute(
        select(Payout)
        .where(*where)
        .order_by(Payout.created_at.desc(), Payout.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return Page[PayoutRead](items=[payout_read(p) for p in rows.scalars()], total=total, page=page, per_page=per_page)


async def payout_runs(*, uow: UnitOfWork, limit: int = 10) -> list[PayoutRunRead]:
    rows = await uow.session.execute(select(PayoutRun).order_by(PayoutRun.started_at.desc()).limit(limit))
    return [
        PayoutRunRead(
            id=r.id, trigger=r.trigger, started_at=r.started_at, finished_at=r.finished_at, paid=r.paid,
            failed=r.failed, amount=money(r.amount),
        )
        for r in rows.scalars()
    ]  # fmt: skip


async def totals(*, uow: UnitOfWork) -> dict[str, int]:
    """Sums by account and kind across the marketplace (for /metrics and the books check)."""
    rows = await uow.session.execute(
        select(LedgerEntry.account, LedgerEntry.kind, func.sum(LedgerEntry.amount)).group_by(
            LedgerEntry.account, LedgerEntry.kind
        )
    )
    return {f"{account}:{kind}": int(total or 0) for account, kind, total in rows}


async def payout_counts(*, uow: UnitOfWork) -> dict[str, tuple[int, int]]:
    """status -> (payouts, amount in minor units), for /metrics."""
    rows = await uow.session.execute(
        select(Payout.status, func.count(), func.coalesce(func.sum(Payout.amount), 0)).group_by(Payout.status)
    )
    found = {str(s): (int(n), int(a)) for s, n, a in rows}
    return {s: found.get(s, (0, 0)) for s in ("pending", "paid", "failed")}
