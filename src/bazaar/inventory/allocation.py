"""Taking and returning units on bucket rows, each with one conditional UPDATE whose row count is checked.

Every row lock goes through `locks` (the one lock order, (offer_id, bucket)): lines are taken in
offer-id order; within an offer the fast path on PostgreSQL takes a random bucket nobody is locking
(`SKIP LOCKED`, never waits), and the slow path locks all of the offer's buckets in order. Returning
and selling units claim their rows in order before updating them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer, String

from bazaar.catalog.models import Offer
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.inventory import locks
from bazaar.inventory.models import StockBucket


@dataclass(frozen=True)
class OfferStock:
    """An offer's owner and a fresh (unlocked) look at its buckets, read in one query for a whole cart."""

    offer_id: str
    seller_id: str
    product_id: str
    active: bool
    buckets: int
    available: int
    largest: int  # the most free units in any one bucket


@dataclass(frozen=True)
class Piece:
    bucket: int
    quantity: int
    left_in_bucket: int


_BUCKETS, _OFFERS = cast(Table, StockBucket.__table__), cast(Table, Offer.__table__)
_b, _o = _BUCKETS.c, _OFFERS.c
# Built once: every hold and every sale runs them.
_OFFER_STOCK = Prepared.listing(
    lambda one_of: (
        select(
            _o.id,
            _o.seller_id,
            _o.product_id,
            _o.status,
            func.count(_b.bucket),
            func.coalesce(func.sum(_b.available), 0),
            func.coalesce(func.max(_b.available), 0),
        )
        .select_from(_OFFERS.outerjoin(_BUCKETS, _b.offer_id == _o.id))
        .where(one_of(_o.id, "ids"))
        .group_by(_o.id, _o.seller_id, _o.product_id, _o.status)
    )
)
_TAKE = Prepared(
    update(_BUCKETS)
    .where(_b.offer_id == bindparam("offer"), _b.bucket == bindparam("the_bucket"), _b.available >= bindparam("qty"))
    .values(available=_b.available - bindparam("qty"))
    .returning(_b.available)
)
_SELL = Prepared(
    update(_BUCKETS)
    .where(
        _b.offer_id == bindparam("offer"),
        _b.bucket == bindparam("the_bucket"),
        _b.on_hand - _b.available >= bindparam("qty"),
    )
    .values(on_hand=_b.on_hand - bindparam("qty"))
    .returning(_b.available)
)


def _on_rows(change: str, condition: str) -> Prepared:
    """PostgreSQL: one statement for several bucket rows (offer, bucket, qty): it locks them in the lock order of
    `locks` (the ORDER BY … FOR UPDATE runs before any row is changed), then changes each row whose `condition`
    holds; answers (offer_id, bucket, available) of the rows it changed. One round trip for a cart's lines."""
    # `change` and `condition` are the constants of _TAKE_ROWS and _SELL_ROWS below, never input.
    return Prepared(
        text(
            f"""
        WITH v AS (
            SELECT * FROM unnest(:offers, :buckets, :qtys) AS v(offer_id, bucket, qty)
        ), locked AS MATERIALIZED (
            SELECT b.offer_id, b.bucket FROM stock_buckets b JOIN v ON b.offer_id = v.offer_id AND b.bucket = v.bucket
            ORDER BY b.offer_id COLLATE "C", b.bucket FOR UPDATE OF b
        )
        UPDATE stock_buckets b SET {change}
        FROM v, locked
        WHERE b.offer_id = v.offer_id AND b.bucket = v.bucket
          AND locked.offer_id = b.offer_id AND locked.bucket = b.bucket AND {condition}
        RETURNING b.offer_id, b.bucket, b.available
        """  # noqa: S608
        ).bindparams(
            bindparam("offers", type_=ARRAY(String)),
            bindparam("buckets", type_=ARRAY(Integer)),
            bindparam("qtys", type_=ARRAY(Integer)),
        )
    )


_TAKE_ROWS = _on_rows("available = b.available - v.qty", "b.available >= v.qty")
_SELL_ROWS = _on_rows("on_hand = b.on_hand - v.qty", "b.on_hand - b.available >= v.qty")


async def _on_all(
    uow: UnitOfWork, statement: Prepared, units: list[tuple[str, int, int]]
) -> dict[tuple[str, int], int]:
    """`statement` on these (offer, bucket, qty) rows, claimed in lock order: units left free per row changed."""
    await locks.claim(uow, [(offer_id, bucket) for offer_id, bucket, _ in units])
    values = {"offers": [u[0] for u in units], "buckets": [u[1] for u in units], "qtys": [u[2] for u in units]}
    return {(o, int(b)): int(a) for o, b, a in await uow.fetch(statement, values)}


async def take_each(uow: UnitOfWork, stocks: list[OfferStock], wanted: dict[str, int]) -> dict[str, Piece] | None:
    """Several offers' units from their one bucket each, in one statement (PostgreSQL, every offer in one
    bucket as last read, more than one offer): the pieces taken, or None when that does not apply and `take`
    goes line by line. An offer missing from the answer had too few units in bucket 0, which is locked now;
    should the offer have more buckets by now, the caller must start over (another path would lock out of
    order)."""
    if not uow.is_postgres or len(stocks) < 2 or any(s.buckets != 1 for s in stocks):
        return None
    left = await _on_all(uow, _TAKE_ROWS, [(s.offer_id, 0, wanted[s.offer_id]) for s in stocks])
    return {o: Piece(0, wanted[o], free) for (o, _), free in left.items()}


async def offer_stock(uow: UnitOfWork, offer_ids: Iterable[str]) -> dict[str, OfferStock]:
    rows = await uow.fetch(_OFFER_STOCK, {"ids": sorted(set(offer_ids))})
    return {r[0]: OfferStock(r[0], r[1], r[2], r[3] == "active", int(r[4]), int(r[5]), int(r[6])) for r in rows}


async def _take_from(uow: UnitOfWork, offer_id: str, bucket: int, qty: int) -> Piece | None:
    await locks.claim(uow, [(offer_id, bucket)])
    taken = {"offer": offer_id, "the_bucket": bucket, "qty": qty}
    left = (await uow.fetch(_TAKE, taken)).scalar_one_or_none()
    return None if left is None else Piece(bucket, qty, int(left))


async def take(uow: UnitOfWork, stock: OfferStock, qty: int) -> Piece | None:
    """Take `qty` units of one offer from one bucket (gathering units into it if needed); None if too few."""
    if uow.is_postgres and stock.buckets > 1:
        took = await locks.take_unlocked(uow, stock.offer_id, qty) if stock.largest >= qty else None
        if took is not None:
            return Piece(took[0], qty, took[1])
    else:
        # One bucket (PostgreSQL waits on it), or SQLite, where write transactions run one at a time.
        buckets = [0] if stock.buckets == 1 else await _buckets_with(uow, stock.offer_id, qty)
        for bucket in buckets:
            piece = await _take_from(uow, stock.offer_id, bucket, qty)
            if piece is not None:
                return piece
    return await _take_gathered(uow, stock.offer_id, qty)


async def _buckets_with(uow: UnitOfWork, offer_id: str, qty: int) -> list[int]:
    rows = await uow.session.execute(
        select(StockBucket.bucket)
        .where(StockBucket.offer_id == offer_id, StockBucket.available >= qty)
        .order_by(StockBucket.bucket)
    )
    return [int(b) for b in rows.scalars()]


async def _take_gathered(uow: UnitOfWork, offer_id: str, qty: int) -> Piece | None:
    """The slow path: lock the offer's buckets in order; when no one bucket has `qty` free units, first move
    free units into the fullest bucket (a hold always lives in one bucket), then take from it."""
    rows = [(row.bucket, row.available) for row in await locks.lock_offers(uow, [offer_id])]
    if sum(a for _, a in rows) < qty:
        return None
    target, free = max(rows, key=lambda row: (row[1], -row[0]))
    for bucket, available in rows:
        if free >= qty:
            break
        if bucket != target and available > 0:
            units = min(available, qty - free)
            await _move_free_units(uow, offer_id, source=bucket, target=target, units=units)
            free += units
    return await _take_from(uow, offer_id, target, qty)


async def _move_free_units(uow: UnitOfWork, offer_id: str, *, source: int, target: int, units: int) -> None:
    moved = await uow.session.execute(
        update(StockBucket)
        .where(StockBucket.offer_id == offer_id, StockBucket.bucket == source, StockBucket.available >= units)
        .values(on_hand=StockBucket.on_hand - units, available=StockBucket.available - units)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise RuntimeError(f"bucket {offer_id}/{source} lost free units while locked")
    await uow.session.execute(
        update(StockBucket)
        .where(StockBucket.offer_id == offer_id, StockBucket.bucket == target)
        .values(on_hand=StockBucket.on_hand + units, available=StockBucket.available + units)
    )


async def give_back(uow: UnitOfWork, units: Iterable[tuple[str, int, int]]) -> None:
    """Return held units (offer_id, bucket, quantity) to their buckets, in lock order."""
    units = sorted(units)
    await locks.claim(uow, [(offer_id, bucket) for offer_id, bucket, _ in units])
    for offer_id, bucket, qty in units:
        result = await uow.session.execute(
            update(StockBucket)
            .where(StockBucket.offer_id == offer_id, StockBucket.bucket == bucket)
            .values(available=StockBucket.available + qty)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"stock bucket {offer_id}/{bucket} is missing; cannot return {qty} units")


async def remove_sold(uow: UnitOfWork, units: Iterable[tuple[str, int, int]]) -> dict[str, int]:
    """Sold units leave on-hand stock; `available` already excluded them while they were held. Answers, per
    offer, the fewest units free in a bucket it sold from: the offer has at least as many free in all."""
    units = sorted(units)
    fewest: dict[str, int] = {}
    if uow.is_postgres and len(units) > 1 and len({(o, b) for o, b, _ in units}) == len(units):
        left = await _on_all(uow, _SELL_ROWS, units)  # one statement for all (PostgreSQL)
        for offer_id, bucket, qty in units:
            if (offer_id, bucket) not in left:
                raise RuntimeError(f"stock bucket {offer_id}/{bucket} does not hold {qty} units")
            fewest[offer_id] = min(left[offer_id, bucket], fewest.get(offer_id, left[offer_id, bucket]))
        return fewest
    await locks.claim(uow, [(offer_id, bucket) for offer_id, bucket, _ in units])
    for offer_id, bucket, qty in units:
        sold = {"offer": offer_id, "the_bucket": bucket, "qty": qty}
        left_in_bucket = (await uow.fetch(_SELL, sold)).scalar_one_or_none()
        if left_in_bucket is None:
            raise RuntimeError(f"stock bucket {offer_id}/{bucket} does not hold {qty} units")
        fewest[offer_id] = min(int(left_in_bucket), fewest.get(offer_id, int(left_in_bucket)))
    return fewest


async def totals(uow: UnitOfWork, offer_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(on_hand, available) per offer, as this transaction sees them."""
    rows = await uow.session.execute(
        select(StockBucket.offer_id, func.sum(StockBucket.on_hand), func.sum(StockBucket.available))
        .where(StockBucket.offer_id.in_(sorted(set(offer_ids))))
        .group_by(StockBucket.offer_id)
    )
    return {o: (int(h or 0), int(a or 0)) for o, h, a in rows}
