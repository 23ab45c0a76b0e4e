"""The one lock order for stock: every path that changes `stock_buckets` takes its row locks through here.

The order is (offer_id, bucket) ascending, offer ids compared by code point (`COLLATE "C"` in SQL, so
PostgreSQL and Python's `sorted()` agree whatever the database's collation). In one transaction:

1. Stock rows are locked after the rows that lead to them (checkout, order, return, reservation rows),
   never one of those after a stock row; after stock rows come only rows no path locks before stock
   (a buyer's `buyer_holds` row, `limits.py`).
2. A transaction waits for a stock row only if it holds no later one: `claim` sorts the keys a
   statement is about to lock and refuses (`LockOrderViolation`, a bug) a key below one already held;
   `lock_offers` locks whole offers with one ordered `SELECT … FOR UPDATE`.
3. A row may be taken out of order only without waiting (`take_unlocked`, `SKIP LOCKED`); it then
   counts as held like any other.

Two transactions following these rules cannot wait on each other in a cycle over stock rows. The
batched hold statement (`hot.py`) is its own transaction and locks with the same `ORDER BY`. What the order
cannot rule out (locks on other tables) is retried by `UnitOfWork.run` (40P01, 40001).
On SQLite there are no row locks (one writer at a time), but `claim` checks the order all the same,
so every test of a stock path checks it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import select, text

from bazaar.db.uow import UnitOfWork
from bazaar.inventory.models import StockBucket

BucketKey = tuple[str, int]
FAST_PATH_TRIES = 4
_MAX_BUCKETS = 64  # stock.MAX_BUCKETS; buckets are numbered 0..n-1


class LockOrderViolation(RuntimeError):
    """A stock row was about to be locked below one this transaction already holds: a deadlock waiting to happen."""


@dataclass
class _Held:
    keys: set[BucketKey] = field(default_factory=set)
    highest: BucketKey | None = None

    def check(self, keys: Iterable[BucketKey]) -> None:
        for key in keys:
            if self.highest is not None and key < self.highest and key not in self.keys:
                raise LockOrderViolation(f"stock row {key} locked after {self.highest}; lock in ascending order")

    def add(self, keys: Iterable[BucketKey]) -> None:
        for key in keys:
            self.keys.add(key)
            if self.highest is None or key > self.highest:
                self.highest = key


# Per database transaction: a commit or rollback starts a new SessionTransaction, so the record starts empty.
_held_by_transaction: WeakKeyDictionary[Any, _Held] = WeakKeyDictionary()


async def _held(uow: UnitOfWork) -> _Held:
    transaction = uow.session.sync_session.get_transaction()
    if transaction is None:
        await uow.session.connection()  # begins the transaction if this is its first statement
        transaction = uow.session.sync_session.get_transaction()
    assert transaction is not None
    return _held_by_transaction.setdefault(transaction, _Held())


async def claim(uow: UnitOfWork, keys: Iterable[BucketKey]) -> list[BucketKey]:
    """The keys in lock order, recorded as held; the caller's statements then lock them in that order."""
    ordered = sorted(set(keys))
    held = await _held(uow)
    held.check(ordered)
    held.add(ordered)
    return ordered


@dataclass(frozen=True)
class LockedBucket:
    offer_id: str
    bucket: int
    on_hand: int
    available: int


async def lock_offers(uow: UnitOfWork, offer_ids: Iterable[str]) -> list[LockedBucket]:
    """Every bucket of these offers, locked (PostgreSQL) in lock order, as they are now."""
    ids = sorted(set(offer_ids))
    if not ids:
        return []
    held = await _held(uow)
    held.check((offer_id, bucket) for offer_id in ids for bucket in range(_MAX_BUCKETS))
    query = select(StockBucket.offer_id, StockBucket.bucket, StockBucket.on_hand, StockBucket.available).where(
        StockBucket.offer_id.in_(ids)
    )
    if uow.is_postgres:  # SQLite compares text by code point already
        query = query.order_by(StockBucket.offer_id.collate("C"), StockBucket.bucket).with_for_update()
    else:
        query = query.order_by(StockBucket.offer_id, StockBucket.bucket)
    rows = await _read_locked(uow, query)
    if uow.is_postgres:
        # A locking statement sees the rows of its snapshot: a bucket row that a seller's re-split added and
        # committed while this one waited is not locked by it, and a caller writing absolute values would
        # overwrite holds taken from it meanwhile. Once every older row is held nobody can add more (adding
        # rows locks the offer first), so another statement, with a fresh snapshot, locks the whole offer.
        while len(again := await _read_locked(uow, query)) != len(rows):
            rows = again
        rows = again
    held.add((r.offer_id, r.bucket) for r in rows)
    return rows


async def _read_locked(uow: UnitOfWork, query: Any) -> list[LockedBucket]:
    return [LockedBucket(o, int(b), int(h), int(a)) for o, b, h, a in await uow.session.execute(query)]


# One statement: pick a random bucket with enough units that nobody else is locking, and take from it.
_TAKE_UNLOCKED = text(
    """
    UPDATE stock_buckets SET available = available - :qty
    WHERE offer_id = :offer_id AND available >= :qty AND bucket = (
        SELECT bucket FROM stock_buckets
        WHERE offer_id = :offer_id AND available >= :qty
        ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING bucket, available
    """
)


async def take_unlocked(uow: UnitOfWork, offer_id: str, qty: int) -> tuple[int, int] | None:
    """PostgreSQL: take `qty` units from a bucket nobody holds, without waiting: (bucket, units left in it).

    None after a few tries, holding no lock on any of this offer's buckets: PostgreSQL keeps the lock on
    a row it locked and then found short, so each try runs after a savepoint and is rolled back to it.
    """
    # Flush the caller's pending changes first: rolling back to the savepoint must only undo our locks.
    await uow.session.flush()
    held = await _held(uow)
    await uow.session.execute(text("SAVEPOINT take_units"))
    for attempt in range(FAST_PATH_TRIES):
        row = (await uow.session.execute(_TAKE_UNLOCKED, {"offer_id": offer_id, "qty": qty})).first()
        if row is not None:
            held.add([(offer_id, int(row[0]))])
            return int(row[0]), int(row[1])
        await uow.session.execute(text("ROLLBACK TO SAVEPOINT take_units"))
        await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # about one commit; holders finish
    return None
