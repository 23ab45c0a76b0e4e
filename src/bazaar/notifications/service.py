"""Notification use cases: write one (idempotently, per event), list a user's, mark them read; seller figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table, func, select, update

from bazaar.db.dialects import PerDialect
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ids import new_id
from bazaar.kernel.schemas import Page, money
from bazaar.notifications.models import Notification, SellerStats
from bazaar.notifications.schemas import NotificationRead, SellerStatsRead


async def notify(*, uow: UnitOfWork, user_id: str, kind: str, subject: str, body: str, event_id: str) -> None:
    """Add a notification unless this event already produced it (a redelivered event changes nothing)."""
    values = {
        "id": new_id(),
        "user_id": user_id,
        "kind": kind,
        "subject": subject,
        "body": body,
        "event_id": event_id,
        "created_at": utcnow(),
    }
    await uow.fetch(_NOTIFY, values)


_NOTIFICATIONS = cast(Table, Notification.__table__)
_NOTIFY = PerDialect(  # every order tells its buyer and sellers
    lambda insert: insert(_NOTIFICATIONS).on_conflict_do_nothing(
        index_elements=[_NOTIFICATIONS.c.user_id, _NOTIFICATIONS.c.event_id, _NOTIFICATIONS.c.kind]
    )
).prepared(columns=("id", "user_id", "kind", "subject", "body", "event_id", "created_at"))


async def list_notifications(*, uow: UnitOfWork, user_id: str, page: int, per_page: int) -> Page[NotificationRead]:
    total = (
        await uow.session.execute(select(func.count()).select_from(Notification).where(Notification.user_id == user_id))
    ).scalar_one()
    rows = (
        await uow.session.execute(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    ).scalars()
    items = [
        NotificationRead(
            id=n.id, kind=n.kind, subject=n.subject, body=n.body, created_at=n.created_at, read=n.read_at is not None
        )
        for n in rows
    ]
    return Page[NotificationRead](items=items, total=int(total), page=page, per_page=per_page)


async def mark_all_read(*, uow: UnitOfWork, user_id: str) -> int:
    result = await uow.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    await uow.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def bump_seller_stats(
    *,
    uow: UnitOfWork,
    seller_id: str,
    orders: int = 0,
    units_sold: int = 0,
    revenue: int = 0,
    reservations: int = 0,
    units_reserved: int = 0,
) -> None:
    """Add to a seller's running figures (called by consumers, inside their inbox-protected transaction)."""
    values = {
        "seller_id": seller_id,
        "orders": orders,
        "units_sold": units_sold,
        "revenue_amount": revenue,
        "currency": "USD",
        "reservations": reservations,
        "units_reserved": units_reserved,
        "updated_at": utcnow(),
    }
    await uow.fetch(_BUMP_STATS, values)


def _bump_stats(insert: Callable[[Table], Any]) -> Any:
    """The upsert that adds to a seller's figures (every order and hold runs it)."""
    statement = insert(_SELLER_STATS)
    added = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[_SELLER_STATS.c.seller_id],
        set_={
            "orders": _SELLER_STATS.c.orders + added.orders,
            "units_sold": _SELLER_STATS.c.units_sold + added.units_sold,
            "revenue_amount": _SELLER_STATS.c.revenue_amount + added.revenue_amount,
            "reservations": _SELLER_STATS.c.reservations + added.reservations,
            "units_reserved": _SELLER_STATS.c.units_reserved + added.units_reserved,
            "updated_at": added.updated_at,
        },
    )


_SELLER_STATS = cast(Table, SellerStats.__table__)
_BUMP_STATS = PerDialect(_bump_stats).prepared(
    columns=(
        "seller_id",
        "orders",
        "units_sold",
        "revenue_amount",
        "currency",
        "reservations",
        "units_reserved",
        "updated_at",
    )
)


async def seller_stats(*, uow: UnitOfWork, seller_id: str) -> SellerStatsRead:
    stats = await uow.session.get(SellerStats, seller_id)
    if stats is None:
        return SellerStatsRead(
            orders=0, units_sold=0, revenue=money(0), reservations=0, reservation_to_purchase_ratio=None
        )
    ratio = round(stats.units_sold / stats.units_reserved, 4) if stats.units_reserved else None
    return SellerStatsRead(
        orders=stats.orders,
        units_sold=stats.units_sold,
        revenue=money(stats.revenue_amount, stats.currency),
        reservations=stats.reservations,
        reservation_to_purchase_ratio=ratio,
    )
