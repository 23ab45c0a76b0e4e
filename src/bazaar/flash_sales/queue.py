"""The waiting room's use cases: join, look, leave, and the admitter letting buyers in as units allow.

Admission is first come, first served at the rate the sale can absorb: each round (a few times a
second, in the worker) lets in enough of the earliest waiting buyers that, at the units recent
admissions took (`units_per_admission`) and the share of admissions that led to a hold
(`conversion`), the admitted buyers can take the units still free, counting those already
admitted and not yet holding. Units that come back (a hold released or expired) let more in.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales import tokens
from bazaar.flash_sales.calendar import SaleCalendar, SaleEntry
from bazaar.flash_sales.errors import FlashSaleNotLive, FlashSaleSoldOut, TicketNotFound
from bazaar.flash_sales.models import FlashSale, FlashSaleHold
from bazaar.flash_sales.ports import Place, RoomCounts, WaitingRoom
from bazaar.flash_sales.schemas import TicketRead
from bazaar.flash_sales.service import load_sale
from bazaar.kernel.clock import utcnow

MAX_ADMIT_PER_ROUND = 500
MIN_CONVERSION = 0.2  # however few admissions led to a hold, never admit more than 5 per free unit
KEEP_AFTER_END = timedelta(days=1)


@dataclass(frozen=True)
class QueuePolicy:
    secret: str
    admission_window: timedelta  # an admitted buyer may hold within this
    idle_timeout: timedelta  # a waiting buyer not seen (polling) for this long loses their place
    hold_seconds: int  # how long a sale hold lasts, for the wait estimate


def admissions_wanted(*, units_free: int, outstanding: int, units_per_admission: float, conversion: float) -> int:
    """How many more buyers to admit now (pure: the policy the module docstring describes)."""
    if units_free <= 0:
        return 0
    expected_units = max(units_per_admission, 1.0) * max(conversion, MIN_CONVERSION)
    target = math.ceil(units_free / expected_units)
    return max(0, min(MAX_ADMIT_PER_ROUND, target - outstanding))


POLL_MIN_SECONDS = 2


def poll_after(wait_seconds: int, policy: QueuePolicy) -> int:
    """A waiting buyer looks again in a quarter of their expected wait: 2 s near the front, rarely far back,
    always well within the idle limit that would drop them and soon enough to use an admission in its window."""
    limit = min(policy.idle_timeout.total_seconds() / 3, policy.admission_window.total_seconds() / 6)
    ceiling = max(POLL_MIN_SECONDS, int(limit))
    return max(POLL_MIN_SECONDS, min(ceiling, wait_seconds // 4))


def estimated_wait(*, position: int, sale: SaleEntry, hold_seconds: int) -> int:
    """Rough seconds until a waiting buyer is let in: within a round if the free units reach them, else one
    hold's lifetime per round of `units` that must be bought or come back before them."""
    if position <= 0:
        return 0
    per_buyer = max(1, min(sale.per_buyer_limit, 2))
    ahead_units = position * per_buyer
    if ahead_units <= sale.units_left:
        return 1
    return math.ceil((ahead_units - sale.units_left) / max(1, sale.units)) * hold_seconds


async def sale_entry(calendar: SaleCalendar, read_uow: Callable[[], UnitOfWork], sale_id: str) -> SaleEntry:
    entry = await calendar.entry(sale_id)
    if entry is not None:
        return entry
    async with read_uow() as uow:
        return SaleEntry.of(await load_sale(uow, sale_id), "")


def _read(sale: SaleEntry, place: Place, policy: QueuePolicy, now: datetime) -> TicketRead:
    status = {"waiting": "waiting", "admitted": "admitted"}.get(place.status, "expired")
    if status == "admitted" and (place.admitted_until is None or place.admitted_until <= now):
        status = "expired"
    if status == "waiting" and sale.units_sold >= sale.units:
        status = "sold_out"  # every unit is sold: nothing can come back
    if status == "waiting" and sale.status(now) in ("ended", "cancelled"):
        status = "expired"
    token = None
    if status == "admitted":
        assert place.admitted_until is not None
        admission = tokens.Admission(sale.id, place.ticket_id, place.buyer_id, place.admitted_until)
        token = tokens.issue(policy.secret, admission)
    position = place.position if status == "waiting" else 0
    wait = estimated_wait(position=position, sale=sale, hold_seconds=policy.hold_seconds)
    return TicketRead(
        ticket=place.ticket_id,
        sale_id=sale.id,
        status=status,
        position=position,
        estimated_wait_seconds=wait,
        admission_token=token,
        admitted_until=place.admitted_until if status == "admitted" else None,
        poll_after_seconds=poll_after(wait, policy),
    )


async def join_queue(
    *,
    room: WaitingRoom,
    calendar: SaleCalendar,
    read_uow: Callable[[], UnitOfWork],
    policy: QueuePolicy,
    sale_id: str,
    buyer_id: str,
    arrived: datetime | None = None,
) -> TicketRead:
    """A buyer takes a place in a live sale's queue (joining again answers the same place); `arrived` is when
    the request reached the server, so time spent waiting inside a busy process does not cost places."""
    now = utcnow()
    sale = await sale_entry(calendar, read_uow, sale_id)
    status = sale.status(now)
    if status not in ("live", "sold_out"):
        raise FlashSaleNotLive(sale_id=sale.id, status=status)
    if sale.units_sold >= sale.units:
        raise FlashSaleSoldOut(sale_id=sale.id, units_left=0)
    keep = int((sale.ends_at - now + KEEP_AFTER_END).total_seconds())
    place = await room.join(sale.id, buyer_id, now=now, keep_seconds=keep, arrived=arrived)
    return _read(sale, place, policy, now)


async def look_ticket(
    *,
    room: WaitingRoom,
    calendar: SaleCalendar,
    read_uow: Callable[[], UnitOfWork],
    policy: QueuePolicy,
    sale_id: str,
    ticket_id: str,
    buyer_id: str,
) -> TicketRead:
    """Where the buyer's ticket stands; another buyer's ticket is not found."""
    now = utcnow()
    sale = await sale_entry(calendar, read_uow, sale_id)
    place = await room.look(sale.id, ticket_id, now=now)
    if place is None or place.buyer_id != buyer_id:
        raise TicketNotFound(ticket=ticket_id)
    return _read(sale, place, policy, now)


async def leave_queue(*, room: WaitingRoom, sale_id: str, ticket_id: str, buyer_id: str) -> None:
    """The buyer gives up their place (or admission); the next in line moves up."""
    place = await room.look(sale_id, ticket_id, now=utcnow())
    if place is None or place.buyer_id != buyer_id:
        raise TicketNotFound(ticket=ticket_id)
    await room.leave(sale_id, ticket_id)


@dataclass(frozen=True)
class _OpenSale:
    id: str
    units_free: int
    units_per_admission: float


async def _open_sales(uow: UnitOfWork, now: datetime) -> list[_OpenSale]:
    sales = (
        await uow.session.execute(
            select(FlashSale.id, FlashSale.units, FlashSale.units_taken, FlashSale.per_buyer_limit).where(
                FlashSale.status != "cancelled", FlashSale.starts_at <= now, FlashSale.ends_at > now
            )
        )
    ).all()
    if not sales:
        return []
    rows = await uow.session.execute(
        select(
            FlashSaleHold.sale_id, func.sum(FlashSaleHold.quantity), func.count(func.distinct(FlashSaleHold.ticket_id))
        )
        .where(FlashSaleHold.sale_id.in_([s.id for s in sales]))
        .group_by(FlashSaleHold.sale_id)
    )
    taken = {sale_id: int(units) / int(tickets) for sale_id, units, tickets in rows if tickets}
    return [_OpenSale(s.id, s.units - s.units_taken, float(taken.get(s.id) or s.per_buyer_limit)) for s in sales]


def conversion(counts: RoomCounts) -> float:
    """The share of closed admissions that led to a hold (1.0 before any closed)."""
    settled = counts.used + counts.lapsed
    return counts.used / settled if settled else 1.0


async def admit_buyers(
    *,
    read_uow: Callable[[], UnitOfWork],
    room: WaitingRoom,
    policy: QueuePolicy,
    lock: Callable[[str], Awaitable[bool]],
    unlock: Callable[[str], Awaitable[None]],
) -> int:
    """One admission round over every open sale; answers how many buyers were let in.

    `lock(name)` is taken per sale so that admitters in several processes do not both let in a round.
    """
    now = utcnow()
    async with read_uow() as uow:
        sales = await _open_sales(uow, now)
    admitted = 0
    for sale in sales:
        name = f"flash-admitter:{sale.id}"
        if not await lock(name):
            continue
        try:
            counts = await room.counts(sale.id, now=now)
            wanted = admissions_wanted(
                units_free=sale.units_free,
                outstanding=counts.outstanding,
                units_per_admission=sale.units_per_admission,
                conversion=conversion(counts),
            )
            let_in = await room.admit(
                sale.id,
                wanted,
                now=now,
                until=now + policy.admission_window,
                idle_before=now - policy.idle_timeout,
            )
            admitted += len(let_in)
        finally:
            await unlock(name)
    return admitted
