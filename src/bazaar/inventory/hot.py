"""The hot path for buyers holding units of one offer each: on PostgreSQL, one statement per batch of holds.

A flash sale sends thousands of single-offer holds at once. Through the ORM each costs about
3 ms of CPU over seven round trips (read the offer's buckets, savepoint, take, insert the hold,
insert its event, commit), and each commit waits for its own disk flush. Here the holds that
arrive while a statement is running are gathered and the next statement places all of them:
it locks the offers' buckets that have units, lays the holds out over those units in arrival
order, takes the units with conditional UPDATEs and inserts the reservations and their outbox
events. It runs on the driver in autocommit, so the statement is the transaction: every hold of
the batch is recorded with its event, or none is. A hold needs its units in one bucket (as in
`allocation`); one that would straddle two buckets is not placed by the statement.

Holds the statement does not place (buckets locked by others, too few units in one bucket, an
offer that is unknown or not active) go to `reserve_stock` one by one, which waits for locks in
order, gathers units spread over several buckets and raises the precise error. Lock order stays
as `locks` sets it: buckets are locked in (offer id, bucket) order; the first form
skips the locked ones and never waits, the second waits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.inventory import events as ev
from bazaar.inventory import metrics
from bazaar.inventory.errors import InsufficientStock, InvalidQuantity
from bazaar.inventory.limits import HoldLimits, check_hold_cap
from bazaar.inventory.schemas import ReservationRead
from bazaar.inventory.service import SOLD_OUT_FLAG_SECONDS, reserve_stock, shortage
from bazaar.inventory.stock import MAX_UNITS
from bazaar.kernel.clock import iso, utcnow
from bazaar.kernel.errors import DependencyUnavailable
from bazaar.kernel.ids import new_id
from bazaar.kernel.ports import PlainStatements, SoldOutFlags
from bazaar.kernel.ratelimit import RateLimiter

_HOLD = """
WITH req AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
        WITH ORDINALITY AS r(id, offer_id, qty, user_id, event_id, payload, stock_event_id, n)
), live AS (
    SELECT o.id AS offer_id, o.seller_id, o.product_id, o.bucket_count FROM offers o
    WHERE o.id IN (SELECT offer_id FROM req) AND o.status = 'active'
), cand AS (
    SELECT b.offer_id, b.bucket, b.available FROM stock_buckets b
    WHERE b.offer_id IN (SELECT offer_id FROM live) AND b.available > 0
    ORDER BY b.offer_id COLLATE "C", b.bucket FOR UPDATE {wait}  -- the lock order of inventory.locks
), span AS (  -- each locked bucket's free units as an interval of the offer's free units
    SELECT offer_id, bucket, sum(available) OVER w - available AS lo, sum(available) OVER w AS hi
    FROM cand WINDOW w AS (PARTITION BY offer_id ORDER BY bucket)
), ask AS (  -- each hold's units as an interval, in arrival order
    SELECT req.*, sum(qty) OVER w - qty AS lo, sum(qty) OVER w AS hi
    FROM req WHERE offer_id IN (SELECT offer_id FROM live) WINDOW w AS (PARTITION BY offer_id ORDER BY n)
), placed AS (  -- a hold whose interval lies inside one bucket's
    SELECT ask.*, span.bucket FROM ask
    JOIN span ON span.offer_id = ask.offer_id AND ask.lo >= span.lo AND ask.hi <= span.hi
), want AS (  -- per buyer: the units of their placed holds, in all and per offer
    SELECT user_id, sum(units) AS units, jsonb_object_agg(offer_id, units) AS offers FROM (
        SELECT user_id, offer_id, sum(qty) AS units FROM placed WHERE user_id IS NOT NULL GROUP BY user_id, offer_id
    ) x GROUP BY user_id
), granted AS (  -- counted on each buyer's row (see inventory.limits): locked, read as last committed, re-checked
    INSERT INTO buyer_holds AS h (user_id, units, offers, updated_at)
    SELECT user_id, units, offers::json, $9 FROM want
    WHERE units <= $12 AND NOT EXISTS (SELECT 1 FROM jsonb_each_text(want.offers) e WHERE e.value::int > $13)
    ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET
        units = h.units + EXCLUDED.units,
        offers = (SELECT jsonb_object_agg(k, coalesce((h.offers::jsonb ->> k)::int, 0)
                                             + coalesce((EXCLUDED.offers::jsonb ->> k)::int, 0))
                  FROM (SELECT jsonb_object_keys(h.offers::jsonb)
                        UNION SELECT jsonb_object_keys(EXCLUDED.offers::jsonb)) AS ks(k))::json,
        updated_at = EXCLUDED.updated_at
    WHERE h.units + EXCLUDED.units <= $12 AND NOT EXISTS (
        SELECT 1 FROM jsonb_each_text(EXCLUDED.offers::jsonb) e
        WHERE coalesce((h.offers::jsonb ->> e.key)::int, 0) + e.value::int > $13)
    RETURNING h.user_id
), allowed AS (  -- a buyer over a cap takes nothing here; the general path answers them precisely
    SELECT * FROM placed WHERE user_id IS NULL OR user_id IN (SELECT user_id FROM granted)
), took AS (
    UPDATE stock_buckets s SET available = s.available - t.units
    FROM (SELECT offer_id, bucket, sum(qty) AS units FROM allowed GROUP BY offer_id, bucket) t
    WHERE s.offer_id = t.offer_id AND s.bucket = t.bucket AND s.available >= t.units
    RETURNING s.offer_id, s.bucket, s.available, s.on_hand
), done AS (
    SELECT allowed.*, took.available AS left_in_bucket FROM allowed JOIN took USING (offer_id, bucket)
), after AS (  -- offers with a bucket run dry: their units now (other buckets as this statement found them)
    SELECT b.offer_id, sum(coalesce(t.available, b.available)) AS available,
        sum(coalesce(t.on_hand, b.on_hand)) AS on_hand
    FROM stock_buckets b LEFT JOIN took t USING (offer_id, bucket)
    WHERE b.offer_id IN (SELECT offer_id FROM took WHERE available = 0)
    GROUP BY b.offer_id
), held AS (
    INSERT INTO reservations
        (id, offer_id, bucket, quantity, status, expires_at, checkout_id, user_id, created_at, updated_at)
    SELECT id, offer_id, bucket, qty, 'held', $8::timestamptz, NULL, user_id, $9::timestamptz, $9 FROM done
), events AS (
    INSERT INTO outbox (event_id, topic, key, payload, created_at, attempts)
    SELECT done.event_id, $10::text, done.offer_id,
        jsonb_set(done.payload::jsonb, '{{holds,0,seller_id}}', to_jsonb(live.seller_id))::json, $9, 0
    FROM done JOIN live USING (offer_id)
    UNION ALL
    SELECT (SELECT min(stock_event_id) FROM req WHERE req.offer_id = after.offer_id), $11::text, live.product_id,
        json_build_object('offer_id', after.offer_id, 'product_id', live.product_id,
                          'on_hand', after.on_hand, 'available', 0),
        $9, 0
    FROM after JOIN live USING (offer_id) WHERE after.available = 0
)
SELECT done.id, done.left_in_bucket, after.available AS offer_available, live.bucket_count, NULL AS free
FROM done JOIN live USING (offer_id) LEFT JOIN after USING (offer_id)
UNION ALL  -- holds of live offers not placed: the units free in the buckets this statement locked
SELECT ask.id, NULL, NULL, NULL,
    (SELECT coalesce(sum(available), 0) FROM cand WHERE cand.offer_id = ask.offer_id)
    - (SELECT coalesce(sum(qty), 0) FROM done WHERE done.offer_id = ask.offer_id)
FROM ask WHERE ask.id NOT IN (SELECT id FROM done)
"""
# Buckets nobody else is locking: batches from several processes take from different rows at once.
HOLD_WITHOUT_WAITING = _HOLD.format(wait="SKIP LOCKED")
# Every bucket with units, waiting for locks (one hot bucket, or what the first form could not place).
# Having locked them all, it also knows when an offer has fewer free units than a hold asks for.
HOLD_WAITING = _HOLD.format(wait="")

# A statement reads other buckets as they were when it started: two batches emptying the last two buckets
# at once each see the other's units. An offer whose bucket ran dry with units seemingly left asks again.
SOLD_OUT_SINCE = """
INSERT INTO outbox (event_id, topic, key, payload, created_at, attempts)
SELECT $2, $4, o.product_id,
    json_build_object('offer_id', $1::text, 'product_id', o.product_id, 'on_hand', t.on_hand, 'available', 0), $3, 0
FROM offers o,
    (SELECT sum(on_hand) AS on_hand, sum(available) AS available FROM stock_buckets WHERE offer_id = $1) t
WHERE o.id = $1 AND t.available = 0
RETURNING event_id
"""
log = logging.getLogger(__name__)
UNCAPPED = 2**31 - 1  # without limits, buyers' holds are still counted (their ends always subtract)
MAX_BATCH = 100
LANES = 2  # statements in flight per process: one runs while the next batch gathers
_REMEMBERED_OFFERS = 10_000


@dataclass
class _Hold:
    offer_id: str
    quantity: int
    user_id: str | None
    done: asyncio.Future[ReservationRead | None]
    id: str = field(default_factory=new_id)


class HotReservations:
    """Batched single-statement holds on PostgreSQL; `on_events` wakes the outbox relay like a committed unit
    of work. One instance per process, used from one event loop."""

    def __init__(
        self,
        statements: PlainStatements,
        *,
        sold_out: SoldOutFlags | None = None,
        on_events: Callable[[], None] | None = None,
        ttl: timedelta = timedelta(minutes=10),
        limits: HoldLimits | None = None,
        ttl_for: Callable[[list[str]], timedelta] | None = None,
    ) -> None:
        self._ttl_for = ttl_for  # adaptive holds: a batch lasts the longest TTL of its offers
        self._statements = statements
        self._limits = limits
        self._sold_out = sold_out
        self._on_events = on_events
        self._ttl = ttl
        self._waiting: deque[_Hold] = deque()
        self._lanes: set[asyncio.Task[None]] = set()
        self._buckets: dict[str, int] = {}  # offer -> bucket count last seen: one bucket means wait at once

    async def hold(self, *, offer_id: str, quantity: int, user_id: str | None) -> ReservationRead | None:
        """The hold, or None when the batch statement could not place it (the caller takes the general path);
        raises InsufficientStock when the offer's buckets, all locked, had fewer free units than asked."""
        request = _Hold(offer_id, quantity, user_id, asyncio.get_running_loop().create_future())
        self._waiting.append(request)
        if len(self._lanes) < LANES:
            self._lanes.add(asyncio.create_task(self._run_lane()))
        return await request.done

    async def _run_lane(self) -> None:
        try:
            await self._drain()
        finally:
            # Leave the set in the same step that found nothing waiting. A done callback would run a turn later,
            # and a hold asked for in between would see both lanes still counted, start none, and wait forever.
            self._lanes.discard(asyncio.current_task())

    async def _drain(self) -> None:
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(MAX_BATCH, len(self._waiting)))]
            try:
                placed = await self._place(batch)
            except DependencyUnavailable as exc:  # the database is down: nothing of the batch happened
                for request in batch:
                    if not request.done.done():
                        request.done.set_exception(exc)
                continue
            except Exception:  # e.g. a deadlock PostgreSQL broke up: nothing happened; the general path decides
                log.warning("batched holds failed; placing them one by one", exc_info=True)
                placed = {}
            for request in batch:
                if request.done.done():
                    continue
                outcome = placed.get(request.id)
                if isinstance(outcome, InsufficientStock):
                    request.done.set_exception(outcome)
                else:
                    request.done.set_result(outcome)

    async def _place(self, batch: list[_Hold]) -> dict[str, ReservationRead | InsufficientStock]:
        now = utcnow()
        expires_at = now + (self._ttl_for([r.offer_id for r in batch]) if self._ttl_for else self._ttl)
        placed: dict[str, ReservationRead | InsufficientStock] = {}
        rows: list[Mapping[str, Any]] = []
        left = batch
        by_id = {r.id: r for r in batch}
        one_bucket = all(self._buckets.get(r.offer_id) == 1 for r in batch)
        for statement in [HOLD_WAITING] if one_bucket else [HOLD_WITHOUT_WAITING, HOLD_WAITING]:
            got = await self._statements.fetch(statement, *self._arguments(left, now, expires_at))
            rows += [row for row in got if row["free"] is None]
            if statement is HOLD_WAITING:  # every bucket with units was locked: the free count is exact
                for row in got:
                    r = by_id[row["id"]]
                    if row["free"] is not None and row["free"] < r.quantity:
                        placed[r.id] = shortage(
                            [{"offer_id": r.offer_id, "requested": r.quantity, "available": max(0, row["free"])}]
                        )
            taken = {row["id"] for row in rows} | placed.keys()
            left = [r for r in left if r.id not in taken]
            if not left:
                break
        for row in rows:
            r = by_id[row["id"]]
            self._remember(r.offer_id, int(row["bucket_count"]))
            placed[r.id] = ReservationRead(
                id=r.id, offer_id=r.offer_id, quantity=r.quantity, status="held", expires_at=expires_at,
                checkout_id=None, user_id=r.user_id,
            )  # fmt: skip
        if rows:
            metrics.count("made", len(rows), sum(by_id[row["id"]].quantity for row in rows))
        await self._after_sales(rows, by_id, short={by_id[i].offer_id for i, p in placed.items() if _none_left(p)})
        if rows and self._on_events is not None:
            self._on_events()
        return placed

    def _arguments(self, batch: list[_Hold], now: Any, expires_at: Any) -> tuple[Any, ...]:
        expires = iso(expires_at) or ""
        payloads = [  # as the general path's, one hold each (the statement fills in the seller)
            json.dumps(ev.ReservationsMade(r.offer_id, expires, [ev.hold(r.id, r.offer_id, "", r.quantity)]).payload())
            for r in batch
        ]
        return (
            [r.id for r in batch], [r.offer_id for r in batch], [r.quantity for r in batch],
            [r.user_id for r in batch], [new_id() for _ in batch], payloads, [new_id() for _ in batch],
            expires_at, now, ev.ReservationsMade.topic, ev.StockChanged.topic,
            self._limits.per_buyer if self._limits else UNCAPPED, self._limits.per_offer if self._limits else UNCAPPED,
        )  # fmt: skip

    async def _after_sales(self, rows: list[Mapping[str, Any]], by_id: dict[str, _Hold], *, short: set[str]) -> None:
        """Offers whose last units these holds took: flag them sold out, so the next buyers are turned away early."""
        sold_out: set[str] = set(short)
        dry: set[str] = set()
        for row in rows:
            offer_id = by_id[row["id"]].offer_id
            if row["offer_available"] == 0:
                sold_out.add(offer_id)
            elif row["left_in_bucket"] == 0:
                dry.add(offer_id)
        for offer_id in sorted(dry - sold_out):
            told = await self._statements.fetch(SOLD_OUT_SINCE, offer_id, new_id(), utcnow(), ev.StockChanged.topic)
            if told:
                sold_out.add(offer_id)
        if self._sold_out is not None:
            for offer_id in sorted(sold_out):
                await self._sold_out.mark_sold_out(offer_id, SOLD_OUT_FLAG_SECONDS)

    def _remember(self, offer_id: str, buckets: int) -> None:
        if len(self._buckets) >= _REMEMBERED_OFFERS:
            self._buckets.clear()
        self._buckets[offer_id] = buckets


def _none_left(outcome: ReservationRead | InsufficientStock) -> bool:
    return isinstance(outcome, InsufficientStock) and outcome.details["offers"][0]["available"] == 0


async def hold_units(
    *,
    hot: HotReservations | None,
    uow_factory: Callable[[], UnitOfWork],
    offer_id: str,
    quantity: int,
    user_id: str | None,
    ttl: timedelta,
    sold_out: SoldOutFlags | None,
    limits: HoldLimits | None = None,
    limiter: RateLimiter | None = None,
) -> ReservationRead:
    """One buyer holds `quantity` units of one offer until now + ttl (POST /reservations and its fast path).

    With `limits`: at most `limits.per_minute` holds a minute per buyer (429), and never more units held at
    once than the caps (409 `hold_limit_exceeded`, see inventory.limits), whatever the buyer sends at once.
    """
    if isinstance(quantity, bool) or not 0 < quantity <= MAX_UNITS:
        raise InvalidQuantity(f"quantity must be between 1 and {MAX_UNITS}", offer_id=offer_id, quantity=quantity)
    if limits is not None and user_id is not None:
        if limiter is not None:
            await limiter.hit("holds", user_id, limit=limits.per_minute)
        check_hold_cap(held=0, held_by_offer={}, wanted={offer_id: quantity}, limits=limits)  # hopeless at once
    if hot is not None:
        held = await hot.hold(offer_id=offer_id, quantity=quantity, user_id=user_id)
        if held is not None:
            return held
    async with uow_factory() as uow:
        return await uow.run(
            lambda: reserve_stock(
                uow=uow,
                offer_id=offer_id,
                quantity=quantity,
                user_id=user_id,
                ttl=ttl,
                sold_out=sold_out,
                limits=limits,
            )  # fmt: skip
        )
