"""Stock levels: setting an offer's on-hand units across its bucket rows, and reading availability.

Bucket rows are locked through `locks`, in (offer_id, bucket) order, so concurrent writers cannot deadlock.
Units held by reservations stay in the bucket that holds them; only free units are redistributed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, ScalarSelect, Table, func, select, update

from bazaar.db.uow import UnitOfWork
from bazaar.inventory import locks
from bazaar.inventory.errors import InvalidQuantity, StockBelowHeld
from bazaar.inventory.events import StockChanged
from bazaar.inventory.models import StockBucket
from bazaar.kernel.ports import SoldOutFlags

LOW_STOCK_THRESHOLD = 5
MAX_UNITS = 1_000_000
MAX_BUCKETS = 64


@dataclass(frozen=True)
class StockLevel:
    on_hand: int
    available: int

    @property
    def held(self) -> int:
        return self.on_hand - self.available

    @property
    def availability(self) -> str:
        return availability_label(self.available)


def availability_label(available: int) -> str:
    if available <= 0:
        return "out_of_stock"
    if available <= LOW_STOCK_THRESHOLD:
        return "low_stock"
    return "in_stock"


def split_evenly(units: int, parts: int) -> list[int]:
    base, extra = divmod(units, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 <= quantity <= MAX_UNITS:
        raise InvalidQuantity(f"quantity must be between 0 and {MAX_UNITS}", quantity=quantity)


async def initialize_stock(*, uow: UnitOfWork, offer_id: str, product_id: str, quantity: int, buckets: int = 1) -> None:
    """Create the bucket rows of a new offer with `quantity` units spread over them."""
    _check_quantity(quantity)
    if not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidQuantity(f"bucket count must be between 1 and {MAX_BUCKETS}", buckets=buckets)
    for number, units in enumerate(split_evenly(quantity, buckets)):
        uow.session.add(StockBucket(offer_id=offer_id, bucket=number, on_hand=units, available=units))
    uow.emit(StockChanged(offer_id=offer_id, product_id=product_id, on_hand=quantity, available=quantity))


async def _locked_buckets(uow: UnitOfWork, offer_id: str) -> list[StockBucket]:
    await locks.lock_offers(uow, [offer_id])
    query = select(StockBucket).where(StockBucket.offer_id == offer_id).order_by(StockBucket.bucket)
    query = query.execution_options(populate_existing=True)
    return list((await uow.session.execute(query)).scalars())


async def set_on_hand(
    *, uow: UnitOfWork, offer_id: str, product_id: str, quantity: int, sold_out: SoldOutFlags | None = None
) -> StockLevel:
    """Make the offer's on-hand stock `quantity`, keeping every reservation's units where they are.

    With `sold_out`, a restock lifts the offer's sold-out flag as soon as it commits (without it,
    the inventory.stock_changed.v1 consumer lifts it a moment later).
    """
    _check_quantity(quantity)
    rows = await _locked_buckets(uow, offer_id)
    held = sum(r.on_hand - r.available for r in rows)
    if quantity < held:
        raise StockBelowHeld(f"{held} units are held by checkouts in progress; stock cannot go below that", held=held)
    for row, free in zip(rows, split_evenly(quantity - held, len(rows)), strict=True):
        row.on_hand = (row.on_hand - row.available) + free
        row.available = free
    await uow.flush()
    uow.emit(StockChanged(offer_id=offer_id, product_id=product_id, on_hand=quantity, available=quantity - held))
    if sold_out is not None and quantity > held:
        flags = sold_out

        async def lift_flag() -> None:
            await flags.clear(offer_id)

        uow.after_commit(lift_flag)
    return StockLevel(on_hand=quantity, available=quantity - held)


async def set_bucket_count(*, uow: UnitOfWork, offer_id: str, product_id: str, buckets: int) -> StockLevel:
    """Split a hot offer's stock over more (or fewer) rows; held units never move."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidQuantity(f"bucket count must be between 1 and {MAX_BUCKETS}", buckets=buckets)
    rows = await _locked_buckets(uow, offer_id)
    free = sum(r.available for r in rows)
    on_hand = sum(r.on_hand for r in rows)
    existing = {r.bucket: r for r in rows}
    for number in range(max(buckets, len(rows))):
        row = existing.get(number)
        if row is None:
            row = StockBucket(offer_id=offer_id, bucket=number, on_hand=0, available=0)
            uow.session.add(row)
            existing[number] = row
        row.on_hand -= row.available
        row.available = 0
    # Free units go to the first `buckets` rows; rows past that keep only units still held.
    for number, units in enumerate(split_evenly(free, buckets)):
        existing[number].on_hand += units
        existing[number].available = units
    await uow.flush()
    return StockLevel(on_hand=on_hand, available=free)


_BUCKETS = cast(Table, StockBucket.__table__)


def available_units(offer_id: ColumnElement[str]) -> ScalarSelect[int]:
    """What buyers can take of the offer `offer_id` names now, as a column of another context's read (a cart
    pricing its lines reads its offers and their stock in one statement)."""
    return (
        select(func.coalesce(func.sum(_BUCKETS.c.available), 0))
        .where(_BUCKETS.c.offer_id == offer_id)
        .scalar_subquery()
    )


async def stock_levels(*, uow: UnitOfWork, offer_ids: Iterable[str]) -> dict[str, StockLevel]:
    ids = list(dict.fromkeys(offer_ids))
    if not ids:
        return {}
    buckets = _BUCKETS.c
    rows = await uow.session.execute(
        select(buckets.offer_id, func.sum(buckets.on_hand), func.sum(buckets.available))
        .where(buckets.offer_id.in_(ids))
        .group_by(buckets.offer_id)
    )
    levels = {offer_id: StockLevel(int(on_hand or 0), int(available or 0)) for offer_id, on_hand, available in rows}
    return {i: levels.get(i, StockLevel(0, 0)) for i in ids}


@dataclass(frozen=True)
class Restock:
    offer_id: str
    product_id: str
    quantity: int


async def restock(*, uow: UnitOfWork, lines: Iterable[Restock]) -> None:
    """Put units back on the shelf (a cancelled order, a received return): they become sellable again.

    All of a transaction's restocks in one call, so their rows are locked in order.
    """
    units: dict[str, int] = {}
    products: dict[str, str] = {}
    for line in lines:
        _check_quantity(line.quantity)
        if line.quantity:
            units[line.offer_id] = units.get(line.offer_id, 0) + line.quantity
            products[line.offer_id] = line.product_id
    for offer_id, _ in await locks.claim(uow, [(offer_id, 0) for offer_id in units]):
        quantity = units[offer_id]
        await uow.session.execute(
            update(StockBucket)
            .where(StockBucket.offer_id == offer_id, StockBucket.bucket == 0)
            .values(on_hand=StockBucket.on_hand + quantity, available=StockBucket.available + quantity)
        )
    for offer_id, level in sorted((await stock_levels(uow=uow, offer_ids=units)).items()):
        uow.emit(StockChanged(offer_id, products[offer_id], on_hand=level.on_hand, available=level.available))
