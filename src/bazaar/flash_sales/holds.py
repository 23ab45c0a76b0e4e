"""Holding units through a flash sale, within the sale's units and each buyer's limit, whatever arrives at once.

One transaction takes, in this order (the lock order everywhere): the buyer's share (an upsert whose
conditional UPDATE re-checks `units + n <= per_buyer_limit` on the latest row version, so twenty
parallel holds of one buyer serialise on that row and only those within the limit pass), the
sale's units (`units_taken + n <= units`), then the stock itself through inventory's
`reserve_lines` (which also applies the general per-buyer hold caps of `inventory.limits`, with the sale's
limit as the offer's cap). Any refusal rolls all of it back. When a hold is released or expires, its
units and the buyer's share come back (`settle_hold`, from inventory's events, exactly once per
hold); a sold hold keeps counting towards the buyer's limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales import tokens
from bazaar.flash_sales.calendar import SaleCalendar
from bazaar.flash_sales.errors import (
    AdmissionRequired,
    FlashSaleNotLive,
    FlashSaleSoldOut,
    PerBuyerLimitReached,
)
from bazaar.flash_sales.models import FlashSale, FlashSaleBuyer, FlashSaleHold
from bazaar.flash_sales.ports import WaitingRoom
from bazaar.flash_sales.schemas import SaleHoldRead
from bazaar.flash_sales.service import live_sales_of, load_sale, status_of
from bazaar.inventory import service as inventory
from bazaar.inventory.errors import OfferNotFound
from bazaar.inventory.events import holds_of
from bazaar.inventory.limits import HoldLimits
from bazaar.inventory.schemas import ReservationRead
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ports import SoldOutFlags

SETTLED = {
    "inventory.reservations_committed.v1": "sold",
    "inventory.reservation_committed.v1": "sold",  # as earlier versions emitted it
    "inventory.reservation_released.v1": "returned",
    "inventory.reservation_expired.v1": "returned",
}
TOPICS = tuple(SETTLED)


async def _take_buyer_share(uow: UnitOfWork, sale: FlashSale, buyer_id: str, quantity: int) -> None:
    insert = postgresql.insert if uow.is_postgres else sqlite.insert
    stmt = insert(FlashSaleBuyer).values(sale_id=sale.id, buyer_id=buyer_id, units=quantity)
    upsert = stmt.on_conflict_do_update(
        index_elements=[FlashSaleBuyer.sale_id, FlashSaleBuyer.buyer_id],
        set_={"units": FlashSaleBuyer.units + stmt.excluded.units},
        where=FlashSaleBuyer.units + stmt.excluded.units <= sale.per_buyer_limit,
    ).returning(FlashSaleBuyer.units)
    if quantity <= sale.per_buyer_limit and (await uow.session.execute(upsert)).first() is not None:
        return
    holding = await uow.session.scalar(
        select(FlashSaleBuyer.units).where(FlashSaleBuyer.sale_id == sale.id, FlashSaleBuyer.buyer_id == buyer_id)
    )
    raise PerBuyerLimitReached(
        f"at most {sale.per_buyer_limit} per buyer; you hold or bought {holding or 0}",
        limit=sale.per_buyer_limit,
        holding=int(holding or 0),
        requested=quantity,
    )


async def _take_sale_units(uow: UnitOfWork, sale: FlashSale, quantity: int) -> None:
    taken = await uow.session.execute(
        update(FlashSale)
        .where(FlashSale.id == sale.id, FlashSale.units_taken + quantity <= FlashSale.units)
        .values(units_taken=FlashSale.units_taken + quantity)
        .returning(FlashSale.units_taken)
        .execution_options(synchronize_session=False)
    )
    if taken.first() is None:
        left = await uow.session.scalar(select(FlashSale.units - FlashSale.units_taken).where(FlashSale.id == sale.id))
        raise FlashSaleSoldOut(units_left=int(left or 0), requested=quantity)


class SaleHoldLine:
    """Per process: at most `size` holds of one sale at the database at once; the others wait here, first come
    first served (asyncio.Semaphore is fair), holding no database connection.

    Every hold of a sale updates the sale's one row, so PostgreSQL runs them one at a time however many are
    sent. Measured on an idle machine with 5,000 buyers for 300 units: without this line, when an admitted wave
    held, 12.6 transactions on average (50 at the peak) sat waiting for that row lock, each with a pooled
    connection, so checkouts and other writes of the same process waited for a connection behind them. With
    a line of two per process, one hold holds the row while the next does its work before it.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._lines: dict[str, tuple[asyncio.Semaphore, int]] = {}  # sale -> (its line, holds in it or waiting)

    @asynccontextmanager
    async def turn(self, sale_id: str) -> AsyncIterator[None]:
        gate, users = self._lines.get(sale_id) or (asyncio.Semaphore(self.size), 0)
        self._lines[sale_id] = (gate, users + 1)
        try:
            async with gate:
                yield
        finally:
            gate, users = self._lines[sale_id]
            if users > 1:
                self._lines[sale_id] = (gate, users - 1)
            else:  # nobody left in line: forget the sale, so the map holds only sales being held right now
                del self._lines[sale_id]

    @property
    def sales(self) -> int:
        """Sales with a hold in line or at the database in this process now."""
        return len(self._lines)


async def hold_in_line(
    *,
    line: SaleHoldLine,
    uow_factory: Callable[[], UnitOfWork],
    admission_token: str,
    calendar: SaleCalendar | None = None,
    **hold: Any,
) -> ReservationRead:
    """`hold_sale_units` in its own unit of work, once the sale's line in this process lets it through; the
    process's calendar counts the units as taken at once (the buyer's next page shows them gone)."""
    sale_id = tokens.sale_of(admission_token)
    async with line.turn(sale_id), uow_factory() as uow:
        held = await hold_sale_units(uow=uow, admission_token=admission_token, **hold)
    if calendar is not None:
        calendar.took(sale_id, held.quantity)
    return held


async def hold_sale_units(
    *,
    uow: UnitOfWork,
    secret: str,
    admission_token: str,
    offer_id: str,
    buyer_id: str,
    quantity: int,
    ttl: timedelta,
    sold_out: SoldOutFlags | None = None,
    room: WaitingRoom | None = None,
    limits: HoldLimits | None = None,
) -> ReservationRead:
    """An admitted buyer holds `quantity` units of the sale's offer at the sale price; commits."""
    now = utcnow()
    sale = await load_sale(uow, tokens.sale_of(admission_token))
    admission = tokens.verify(secret, admission_token, sale_id=sale.id, buyer_id=buyer_id, now=now)
    if sale.offer_id != offer_id:
        raise OfferNotFound("this admission is for another offer", offer_id=offer_id)
    if status_of(sale, now) not in ("live", "sold_out"):
        raise FlashSaleNotLive(sale_id=sale.id, status=status_of(sale, now))
    await _take_buyer_share(uow, sale, buyer_id, quantity)
    await _take_sale_units(uow, sale, quantity)
    [held] = await inventory.reserve_lines(
        uow=uow, lines=[(offer_id, quantity)], ttl=ttl, user_id=buyer_id, sold_out=sold_out,
        limits=limits, offer_caps={offer_id: sale.per_buyer_limit},
    )  # fmt: skip
    uow.session.add(
        FlashSaleHold(
            reservation_id=held.id,
            sale_id=sale.id,
            buyer_id=buyer_id,
            offer_id=offer_id,
            quantity=quantity,
            price_amount=sale.price_amount,
            currency=sale.currency,
            ticket_id=admission.ticket_id,
        )
    )
    if room is not None:
        uow.after_commit(lambda: room.mark_used(sale.id, admission.ticket_id))
    await uow.commit()
    return held


_SALE_HOLDS = cast(Table, FlashSaleHold.__table__)
_SETTLE = (  # built once: every sale of every checkout runs it, sale holds or not
    update(_SALE_HOLDS)
    .where(_SALE_HOLDS.c.reservation_id.in_(bindparam("ids", expanding=True)), _SALE_HOLDS.c.status == "held")
    .values(status=bindparam("settled"), updated_at=bindparam("now"))
    .returning(_SALE_HOLDS.c.sale_id, _SALE_HOLDS.c.buyer_id, _SALE_HOLDS.c.quantity)
)


async def settle_hold(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Reservations were committed, released or expired: those that were sale holds count as sold or go back."""
    status = SETTLED.get(event["topic"])
    if status is None:
        return
    ids = sorted({h["reservation_id"] for h in holds_of(event)})
    moved = (await uow.session.execute(_SETTLE, {"ids": ids, "settled": status, "now": utcnow()})).all()
    # Not sale holds (an ordinary cart's), or settled already: nothing moved. A checkout's holds belong to one
    # sale (a sale's offer is bought only through its own checkout), so rows of one sale are updated once.
    by_sale: dict[tuple[str, str], int] = {}
    for sale_id, buyer_id, quantity in moved:
        by_sale[(sale_id, buyer_id)] = by_sale.get((sale_id, buyer_id), 0) + quantity
    for (sale_id, buyer_id), quantity in sorted(by_sale.items()):
        await _settle_units(uow, status, sale_id, buyer_id, quantity)


async def _settle_units(uow: UnitOfWork, status: str, sale_id: str, buyer_id: str, quantity: int) -> None:
    if status == "sold":
        await uow.session.execute(
            update(FlashSale).where(FlashSale.id == sale_id).values(units_sold=FlashSale.units_sold + quantity)
        )
        return
    await uow.session.execute(
        update(FlashSaleBuyer)
        .where(FlashSaleBuyer.sale_id == sale_id, FlashSaleBuyer.buyer_id == buyer_id)
        .values(units=FlashSaleBuyer.units - quantity)
    )
    await uow.session.execute(
        update(FlashSale).where(FlashSale.id == sale_id).values(units_taken=FlashSale.units_taken - quantity)
    )


async def refuse_open_sale_offers(*, uow: UnitOfWork, offer_ids: Sequence[str], now: datetime | None = None) -> None:
    """Offers in a live sale are bought only through its queue: a cart checkout of one is refused."""
    for offer_id, sale_id in await live_sales_of(uow=uow, offer_ids=offer_ids, now=now):
        raise AdmissionRequired(offer_id=offer_id, sale_id=sale_id)


async def claim_for_checkout(*, uow: UnitOfWork, buyer_id: str, sale_id: str, checkout_id: str) -> list[SaleHoldRead]:
    """The buyer's held units of a sale, claimed for one checkout (a second checkout finds none to claim)."""
    claimed = await uow.session.execute(
        update(FlashSaleHold)
        .where(
            FlashSaleHold.sale_id == sale_id,
            FlashSaleHold.buyer_id == buyer_id,
            FlashSaleHold.status == "held",
            FlashSaleHold.checkout_id.is_(None),
        )
        .values(checkout_id=checkout_id, updated_at=utcnow())
        .returning(
            FlashSaleHold.reservation_id,
            FlashSaleHold.offer_id,
            FlashSaleHold.quantity,
            FlashSaleHold.price_amount,
            FlashSaleHold.currency,
        )
        .execution_options(synchronize_session=False)
    )
    return [
        SaleHoldRead(
            reservation_id=r.reservation_id,
            sale_id=sale_id,
            offer_id=r.offer_id,
            quantity=r.quantity,
            price_amount=r.price_amount,
            currency=r.currency,
        )
        for r in claimed
    ]


async def buyer_holds(*, uow: UnitOfWork, buyer_id: str, sale_id: str) -> list[SaleHoldRead]:
    """The buyer's sale holds still held and not yet in a checkout."""
    rows = await uow.session.execute(
        select(FlashSaleHold).where(
            FlashSaleHold.sale_id == sale_id,
            FlashSaleHold.buyer_id == buyer_id,
            FlashSaleHold.status == "held",
            FlashSaleHold.checkout_id.is_(None),
        )
    )
    return [
        SaleHoldRead(
            reservation_id=h.reservation_id,
            sale_id=h.sale_id,
            offer_id=h.offer_id,
            quantity=h.quantity,
            price_amount=h.price_amount,
            currency=h.currency,
        )
        for h in rows.scalars()
    ]
