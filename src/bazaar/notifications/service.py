"""Notification use cases: write one (idempotently, per event), list a user's, mark them read; seller figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import BigInteger, Integer, String, Table, func, select, update

from bazaar.db.base import UTCDateTime
from bazaar.db.dialects import PerDialect
from bazaar.db.driver import Prepared, insert_from_arrays
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ids import new_id
from bazaar.kernel.schemas import Page, money
from bazaar.notifications.models import Notification, SellerStats
from bazaar.notifications.schemas import NotificationRead, SellerStatsRead


@dataclass(frozen=True)
class Notice:
    """A notification to add: for whom, of what kind, and the event it comes from."""

    user_id: str
    kind: str
    subject: str
    body: str
    event_id: str


async def notify(*, uow: UnitOfWork, user_id: str, kind: str, subject: str, body: str, event_id: str) -> None:
    """Add a notification unless this event already produced it (a redelivered event changes nothing)."""
    await notify_all(uow=uow, notices=[Notice(user_id, kind, subject, body, event_id)])


async def notify_all(*, uow: UnitOfWork, notices: Sequence[Notice]) -> None:
    """`notify` for several notifications: one statement for all of them on PostgreSQL, one each on SQLite. Each is
    stamped a microsecond after the one before, so a user's list (newest first) shows them in the order given, as
    it would had they been added one by one."""
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "user_id": n.user_id,
            "kind": n.kind,
            "subject": n.subject,
            "body": n.body,
            "event_id": n.event_id,
            "created_at": now + timedelta(microseconds=i),
        }
        for i, n in enumerate(notices)
    ]
    await uow.fetch_rows(rows, each=_NOTIFY, together=_NOTIFY_ALL)


_NOTIFICATIONS = cast(Table, Notification.__table__)
_ONCE_PER_EVENT = [_NOTIFICATIONS.c.user_id, _NOTIFICATIONS.c.event_id, _NOTIFICATIONS.c.kind]
_NOTICE_COLUMNS: dict[str, Any] = {
    "id": String(),
    "user_id": String(),
    "kind": String(),
    "subject": String(),
    "body": String(),
    "event_id": String(),
    "created_at": UTCDateTime(),
}
_NOTIFY = PerDialect(  # every order tells its buyer and sellers
    lambda insert: insert(_NOTIFICATIONS).on_conflict_do_nothing(index_elements=_ONCE_PER_EVENT)
).prepared(columns=tuple(_NOTICE_COLUMNS))


def _notify_all() -> Prepared:
    """PostgreSQL: many notifications by one statement, one array per column."""
    statement = insert_from_arrays(_NOTIFICATIONS, _NOTICE_COLUMNS)
    return Prepared(statement.on_conflict_do_nothing(index_elements=_ONCE_PER_EVENT))


_NOTIFY_ALL = _notify_all()  # built once: every batch of orders runs it


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


@dataclass
class SellerFigures:
    """What some events add to one seller's running figures."""

    orders: int = 0
    units_sold: int = 0
    revenue: int = 0
    reservations: int = 0
    units_reserved: int = 0

    def add(self, other: SellerFigures) -> None:
        self.orders += other.orders
        self.units_sold += other.units_sold
        self.revenue += other.revenue
        self.reservations += other.reservations
        self.units_reserved += other.units_reserved


async def bump_seller_stats(*, uow: UnitOfWork, figures: Mapping[str, SellerFigures]) -> None:
    """Add to sellers' running figures (called by consumers, inside their inbox-protected transaction), in seller
    id order (the order every batch locks their rows in): one statement for all of them on PostgreSQL, one per
    seller on SQLite."""
    changed = sorted(figures.items())  # (a seller whose events added up to nothing still has their row written)
    if not changed:
        return
    now = utcnow()
    rows = [
        {
            "seller_id": seller_id,
            "orders": added.orders,
            "units_sold": added.units_sold,
            "revenue_amount": added.revenue,
            "currency": "USD",
            "reservations": added.reservations,
            "units_reserved": added.units_reserved,
            "updated_at": now,
        }
        for seller_id, added in changed
    ]
    await uow.fetch_rows(rows, each=_BUMP_STATS, together=_BUMP_ALL_STATS)


def _added_up(statement: Any) -> dict[str, Any]:
    added = statement.excluded
    return {
        "orders": _SELLER_STATS.c.orders + added.orders,
        "units_sold": _SELLER_STATS.c.units_sold + added.units_sold,
        "revenue_amount": _SELLER_STATS.c.revenue_amount + added.revenue_amount,
        "reservations": _SELLER_STATS.c.reservations + added.reservations,
        "units_reserved": _SELLER_STATS.c.units_reserved + added.units_reserved,
        "updated_at": added.updated_at,
    }


def _bump_stats(insert: Callable[[Table], Any]) -> Any:
    """The upsert that adds to one seller's figures."""
    statement = insert(_SELLER_STATS)
    return statement.on_conflict_do_update(index_elements=[_SELLER_STATS.c.seller_id], set_=_added_up(statement))


_SELLER_STATS = cast(Table, SellerStats.__table__)
_STATS_COLUMNS: dict[str, Any] = {
    "seller_id": String(),
    "orders": Integer(),
    "units_sold": Integer(),
    "revenue_amount": BigInteger(),
    "currency": String(),
    "reservations": Integer(),
    "units_reserved": Integer(),
    "updated_at": UTCDateTime(),
}
_BUMP_STATS = PerDialect(_bump_stats).prepared(columns=tuple(_STATS_COLUMNS))


def _bump_all_stats() -> Prepared:
    """PostgreSQL: the upsert for many sellers at once, one array per column, rows taken in the arrays' order."""
    statement = insert_from_arrays(_SELLER_STATS, _STATS_COLUMNS, in_order=True)
    return Prepared(
        statement.on_conflict_do_update(index_elements=[_SELLER_STATS.c.seller_id], set_=_added_up(statement))
    )


_BUMP_ALL_STATS = _bump_all_stats()  # built once: every batch of orders and holds runs it


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
