"""Inventory use cases: reserve a cart's lines all-or-nothing; commit, release and expire holds exactly once.

Every state change is a conditional UPDATE whose affected rows decide what happened, so two
processes racing on the same units or the same reservation cannot both win. `reserve_lines`,
`commit_reservations`, `release_reservations` and `expire_due` run inside the caller's unit of
work and do not commit (checkout composes them); `reserve_stock`, `release_stock` and
`set_offer_buckets` are whole use cases and commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, select, update

from bazaar.accounts.standing import ensure_seller_active
from bazaar.catalog.models import Offer
from bazaar.db.driver import Prepared
from bazaar.db.uow import StaleRead, UnitOfWork
from bazaar.inventory import allocation, metrics
from bazaar.inventory import events as ev
from bazaar.inventory.errors import (
    HoldLimitExceeded,
    InsufficientStock,
    InvalidQuantity,
    OfferNotFound,
    ReservationCommitted,
    ReservationExpired,
    ReservationNotFound,
    ReservationReleased,
)
from bazaar.inventory.limits import HoldLimits, claim_holds, end_holds
from bazaar.inventory.models import Reservation
from bazaar.inventory.schemas import OfferStockRead, ReservationRead, ReservationStats
from bazaar.inventory.stock import LOW_STOCK_THRESHOLD, MAX_UNITS, availability_label, set_bucket_count
from bazaar.kernel.clock import aware, iso, utcnow
from bazaar.kernel.ids import new_id
from bazaar.kernel.ports import SoldOutFlags

MAX_LINES = 200
SOLD_OUT_FLAG_SECONDS = 5.0  # bounds how long a flag that missed a restock can turn buyers away
_FINAL_EVENTS: dict[str, Any] = {
    "committed": ev.ReservationCommitted,
    "released": ev.ReservationReleased,
    "expired": ev.ReservationExpired,
}
_COLUMNS = (
    Reservation.id,
    Reservation.offer_id,
    Reservation.bucket,
    Reservation.quantity,
    Reservation.status,
    Reservation.expires_at,
    Reservation.checkout_id,
    Reservation.user_id,
    Reservation.created_at,
)


_RESERVATIONS, _OFFERS = cast(Table, Reservation.__table__), cast(Table, Offer.__table__)


def _read(r: Reservation | Row[Any], status: str | None = None) -> ReservationRead:
    return ReservationRead(
        id=r.id,
        offer_id=r.offer_id,
        quantity=r.quantity,
        status=status or r.status,
        expires_at=aware(r.expires_at),
        checkout_id=r.checkout_id,
        user_id=r.user_id,
    )


def _normalise(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    wanted: dict[str, int] = defaultdict(int)
    for offer_id, qty in lines:
        if isinstance(qty, bool) or not isinstance(qty, int) or not 0 < qty <= MAX_UNITS:
            raise InvalidQuantity(f"quantity must be between 1 and {MAX_UNITS}", offer_id=offer_id, quantity=qty)
        wanted[offer_id] += qty
    if not wanted or len(wanted) > MAX_LINES:
        raise InvalidQuantity(f"reserve between 1 and {MAX_LINES} offers at once", lines=len(wanted))
    return dict(sorted(wanted.items()))  # offer-id order is the lock order


def shortage(offers: list[dict[str, Any]]) -> InsufficientStock:
    names = ", ".join(str(o["offer_id"]) for o in offers)
    return InsufficientStock(f"not enough stock for offer(s) {names}", offers=offers)


def _on_commit(uow: UnitOfWork, action: Callable[[], Awaitable[None]] | None) -> None:
    if action is not None:
        uow.after_commit(action)


def _counted(outcome: str, rows: Sequence[Any]) -> Callable[[], Awaitable[None]]:
    units = sum(int(r.quantity) for r in rows)

    async def count() -> None:
        metrics.count(outcome, len(rows), units)

    return count


def _timed(now: datetime, created: Sequence[datetime]) -> Callable[[], Awaitable[None]]:
    async def observe() -> None:
        for at in created:
            metrics.TIME_TO_PURCHASE.observe(max(0.0, (now - aware(at)).total_seconds()))

    return observe


def _flags(sold_out: SoldOutFlags | None, offer_ids: set[str], *, mark: bool) -> Callable[[], Awaitable[None]] | None:
    if sold_out is None or not offer_ids:
        return None

    async def apply() -> None:
        if mark:
            for offer_id in sorted(offer_ids):
                await sold_out.mark_sold_out(offer_id, SOLD_OUT_FLAG_SECONDS)
        else:
            await sold_out.clear(*sorted(offer_ids))

    return apply


async def refuse_if_sold_out(*, sold_out: SoldOutFlags, offer_id: str, quantity: int) -> None:
    """The flash-sale fast path: raise InsufficientStock from the sold-out flag alone, without the database."""
    await _fail_fast(sold_out, {offer_id: quantity})


async def _fail_fast(sold_out: SoldOutFlags | None, wanted: dict[str, int]) -> None:
    if sold_out is None:
        return
    flagged = await sold_out.sold_out_of(list(wanted))
    for offer_id, qty in wanted.items():
        if offer_id in flagged:
            metrics.SOLD_OUT_FAST_REJECTIONS.inc()
            raise shortage([{"offer_id": offer_id, "requested": qty, "available": 0}])


async def _take_all(
    uow: UnitOfWork, stocks: dict[str, allocation.OfferStock], wanted: dict[str, int]
) -> list[tuple[str, allocation.Piece]]:
    taken: list[tuple[str, allocation.Piece]] = []
    short: list[dict[str, Any]] = []
    if all(stocks[o].available >= q for o, q in wanted.items()):
        pieces = await allocation.take_each(uow, [stocks[o] for o in wanted], wanted)
        if pieces is not None:  # one statement took what it could: each offer's one bucket is locked now
            taken = [(o, pieces[o]) for o in wanted if o in pieces]
            missed = {o: q for o, q in wanted.items() if o not in pieces}
            levels = await allocation.totals(uow, missed) if missed else {}
            if any(levels[o][1] >= q for o, q in missed.items()):
                # Its units were spread over more buckets since they were counted (a seller's re-split): the
                # transaction runs again and takes them line by line, gathering units into one bucket.
                raise StaleRead("an offer's stock moved between buckets while it was being held")
            short = [{"offer_id": o, "requested": q, "available": levels[o][1]} for o, q in missed.items()]
            wanted = {}
    for offer_id, qty in wanted.items():
        stock = stocks[offer_id]
        piece = None if stock.available < qty or short else await allocation.take(uow, stock, qty)
        if piece is None:
            short.append({"offer_id": offer_id, "requested": qty, "available": stock.available})
        else:
            taken.append((offer_id, piece))
    if short:
        # Leave the caller's transaction as we found it: all or nothing.
        await allocation.give_back(uow, [(o, p.bucket, p.quantity) for o, p in taken])
        raise shortage(short)
    return taken


async def reserve_lines(
    *,
    uow: UnitOfWork,
    lines: Sequence[tuple[str, int]],
    ttl: timedelta,
    checkout_id: str | None = None,
    user_id: str | None = None,
    sold_out: SoldOutFlags | None = None,
    limits: HoldLimits | None = None,
    offer_caps: dict[str, int] | None = None,
) -> list[ReservationRead]:
    """Hold every line's units until now + ttl, or none of them (InsufficientStock names the short offers;
    HoldLimitExceeded when the buyer would hold more than `limits` allow, see inventory.limits).

    Answers one reservation per offer, in offer-id order (lines naming the same offer are added up).
    """
    wanted = _normalise(lines)
    await _fail_fast(sold_out, wanted)
    stocks = await allocation.offer_stock(uow, wanted)
    for offer_id in wanted:
        if offer_id not in stocks or not stocks[offer_id].active:
            raise OfferNotFound(offer_id=offer_id)
    try:
        taken = await _take_all(uow, stocks, wanted)
    except InsufficientStock as exc:
        empty = {o["offer_id"] for o in exc.details["offers"] if o["available"] == 0}
        action = _flags(sold_out, empty, mark=True)
        if action is not None:
            await action()
        raise
    if user_id is not None:
        try:
            await claim_holds(uow=uow, user_id=user_id, wanted=wanted, limits=limits, offer_caps=offer_caps)
        except HoldLimitExceeded:
            await allocation.give_back(uow, [(o, p.bucket, p.quantity) for o, p in taken])
            raise
    now = utcnow()
    expires_at = now + ttl
    made = [
        ReservationRead(
            id=new_id(), offer_id=o, quantity=p.quantity, status="held", expires_at=expires_at,
            checkout_id=checkout_id, user_id=user_id,
        )
        for o, p in taken
    ]  # fmt: skip
    for r, (_, piece) in zip(made, taken, strict=True):  # written with the commit: nothing reads them back before
        row = {**r.model_dump(), "bucket": piece.bucket, "created_at": now, "updated_at": now}
        uow.insert(_RESERVATIONS, row)
    holds = [ev.hold(r.id, r.offer_id, stocks[r.offer_id].seller_id, r.quantity) for r in made]
    uow.emit(ev.ReservationsMade(made[0].offer_id, iso(expires_at) or "", holds))
    # Told whenever a hold empties a bucket, not only when this transaction sees the offer at zero: two
    # carts emptying the last two buckets at once each see the other's bucket still full (its hold is
    # not committed), so neither would see the sell-out. Readers re-read the stock when told.
    products = {o: s.product_id for o, s in stocks.items()}
    emptied = await _emit_stock_changed(uow, {o for o, p in taken if p.left_in_bucket == 0}, products)
    _on_commit(uow, _flags(sold_out, emptied, mark=True))
    uow.after_commit(_counted("made", made))
    return made


async def _offer_info(uow: UnitOfWork, offer_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """offer id -> (seller_id, product_id)."""
    rows = await uow.session.execute(
        select(Offer.id, Offer.seller_id, Offer.product_id).where(Offer.id.in_(sorted(set(offer_ids))))
    )
    return {o: (s, p) for o, s, p in rows}


async def _emit_stock_changed(
    uow: UnitOfWork,
    offer_ids: set[str],
    known: Mapping[str, str] | None = None,
    *,
    only_shown: bool = False,
) -> set[str]:
    """Tell readers (search, pages, sold-out flags, wish lists) an offer's stock moved; answers the offers now
    at zero available. `known`: offers' products (offer id -> product id) already read; `only_shown`: tell only
    of offers whose level buyers are shown as a count (low stock or none: see `shown_to_buyers`).

    The levels in the event are as this transaction sees them; a concurrent one may change them before
    either commits, so consumers that act on the level read it again (see inventory.handlers).
    """
    if not offer_ids:
        return set()
    levels = await allocation.totals(uow, offer_ids)
    if only_shown:
        levels = {o: level for o, level in levels.items() if shown_to_buyers(level[1])}
    if not levels:
        return set()
    products = dict(known or {})
    missing = [o for o in levels if o not in products]
    if missing:
        products.update({o: p for o, (_, p) in (await _offer_info(uow, missing)).items()})
    for offer_id, (on_hand, available) in sorted(levels.items()):
        uow.emit(ev.StockChanged(offer_id, products[offer_id], on_hand, available))
    return {o for o, (_, available) in levels.items() if available == 0}


def shown_to_buyers(available: int) -> bool:
    """Whether buyers are shown this level as a number (or as none left), not just as "in stock".

    A sale takes units out of on-hand stock that its hold already took out of `available`, so a sale leaves
    what buyers see unchanged unless the level is low: then pages show the count, and a change they must
    hear of may be another buyer's hold that no event told of (holds tell only when they empty a bucket).
    Above the threshold a product page's count may be up to its cache's lifetime old (a few seconds);
    whether an offer is in stock, which search and sold-out flags keep, changes only at zero, and every
    hold that empties a bucket tells of it."""
    return available <= LOW_STOCK_THRESHOLD


async def _transition(uow: UnitOfWork, ids: Sequence[str], *, to: str, now: datetime, extra: Any = ()) -> list[Any]:
    """held -> `to` for those of `ids` still held; answers exactly the rows this call moved."""
    if not ids:
        return []
    result = await uow.session.execute(
        update(Reservation)
        .where(Reservation.id.in_(sorted(ids)), Reservation.status == "held", *extra)
        .values(status=to, updated_at=now)
        .returning(*_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    return list(result.all())


async def _finish(
    uow: UnitOfWork, ids: Sequence[str], *, to: str, now: datetime, sold_out: SoldOutFlags | None, extra: Any = ()
) -> list[Any]:
    """Release or expire: the rows this call moved give their units back, once."""
    done = await _transition(uow, ids, to=to, now=now, extra=extra)
    if not done:
        return done
    await allocation.give_back(uow, [(r.offer_id, r.bucket, r.quantity) for r in done])
    await end_holds(uow=uow, holds=done)  # after the buckets: the lock order of inventory.limits
    info = await _offer_info(uow, (r.offer_id for r in done))
    for r in done:
        uow.emit(_FINAL_EVENTS[to](r.id, r.offer_id, info[r.offer_id][0], r.quantity))
    offers = {r.offer_id for r in done}
    await _emit_stock_changed(uow, offers, {o: p for o, (_, p) in info.items()})
    _on_commit(uow, _flags(sold_out, offers, mark=False))
    uow.after_commit(_counted(to, done))
    return done


async def _load(uow: UnitOfWork, ids: Sequence[str], *, lock: bool, with_offer: bool = False) -> dict[str, Any]:
    """Reservations by id (locked, in id order, if `lock`); `with_offer` adds each one's offer's seller_id and
    product_id (the offer row is read, not locked)."""
    columns = (*_COLUMNS, Offer.seller_id, Offer.product_id) if with_offer else _COLUMNS
    query = select(*columns).where(Reservation.id.in_(sorted(set(ids)))).order_by(Reservation.id)
    if with_offer:
        query = query.join(Offer, Offer.id == Reservation.offer_id)
    if lock and uow.is_postgres:
        query = query.with_for_update(of=Reservation)
    return {r.id: r for r in (await uow.session.execute(query)).all()}


_now = bindparam("now", type_=_RESERVATIONS.c.updated_at.type)
_of_offer = _OFFERS.c.id == _RESERVATIONS.c.offer_id
# Built once: every checkout's order runs it. The holds still held and unexpired become sales, with their offers'
# seller and product (one statement, instead of reading them locked and then updating them).
_COMMIT_HELD = Prepared.listing(
    lambda one_of: (
        update(_RESERVATIONS)
        .where(
            one_of(_RESERVATIONS.c.id, "ids"),
            _RESERVATIONS.c.status == "held",
            _RESERVATIONS.c.expires_at > _now,
        )
        .values(status="committed", updated_at=_now)
        .returning(
            *(_RESERVATIONS.c[c.key] for c in _COLUMNS),
            select(_OFFERS.c.seller_id).where(_of_offer).correlate(_RESERVATIONS).scalar_subquery().label("seller_id"),
            select(_OFFERS.c.product_id)
            .where(_of_offer)
            .correlate(_RESERVATIONS)
            .scalar_subquery()
            .label("product_id"),
        )
    )
)


async def commit_reservations(*, uow: UnitOfWork, reservation_ids: Sequence[str]) -> list[ReservationRead]:
    """Turn holds into sales (idempotent). An expired or released hold raises; the caller's transaction must then
    be rolled back, which undoes the holds this call marked sold before it found that one."""
    now = utcnow()
    ids = sorted(set(reservation_ids))
    done = list(await uow.fetch(_COMMIT_HELD, {"ids": ids, "now": now}))
    current: dict[str, Any] = {r.id: r for r in done}
    if len(done) != len(ids):  # not all of them were held and unexpired: committed already, or an error
        others = await _load(uow, [rid for rid in ids if rid not in current], lock=True, with_offer=True)
        for rid in ids:
            r = others.get(rid)
            if rid in current:
                continue
            if r is None:
                raise ReservationNotFound(reservation_id=rid)
            if r.status == "released":
                raise ReservationReleased(reservation_id=rid)
            if r.status == "expired" or (r.status == "held" and aware(r.expires_at) <= now):
                raise ReservationExpired(reservation_id=rid)
            if r.status == "held":  # not moved, yet held and unexpired: refuse rather than guess
                raise ReservationExpired("a reservation changed while it was being committed; try again")
        current.update(others)
    free = await allocation.remove_sold(uow, [(r.offer_id, r.bucket, r.quantity) for r in done])
    await end_holds(uow=uow, holds=done)
    if done:
        info = {r.offer_id: (r.seller_id, r.product_id) for r in current.values()}
        done = sorted(done, key=lambda r: (r.offer_id, r.id))
        holds = [ev.hold(r.id, r.offer_id, info[r.offer_id][0], r.quantity) for r in done]
        uow.emit(ev.ReservationsCommitted(done[0].offer_id, holds))
        # What buyers are shown moved when the hold was made; a sale changes only on-hand stock, which only
        # the seller sees (read fresh), so readers are told only of offers whose count buyers see. An offer with
        # more than that free in one bucket has more in all: only the others' levels are read.
        maybe_low = {o for o, left in free.items() if shown_to_buyers(left)}
        await _emit_stock_changed(uow, maybe_low, {o: p for o, (_, p) in info.items()}, only_shown=True)
        uow.after_commit(_counted("committed", done))
        uow.after_commit(_timed(now, [current[r.id].created_at for r in done]))
    return [_read(current[rid], "committed") for rid in sorted(current)]


async def commit_reservation(*, uow: UnitOfWork, reservation_id: str) -> ReservationRead:
    return (await commit_reservations(uow=uow, reservation_ids=[reservation_id]))[0]


async def release_reservations(
    *, uow: UnitOfWork, reservation_ids: Sequence[str], sold_out: SoldOutFlags | None = None
) -> list[ReservationRead]:
    """Give held units back (idempotent: a hold already released, expired or committed is left as it is)."""
    await _finish(uow, reservation_ids, to="released", now=utcnow(), sold_out=sold_out)
    return [_read(r) for r in (await _load(uow, reservation_ids, lock=False)).values()]


async def release_reservation(
    *, uow: UnitOfWork, reservation_id: str, sold_out: SoldOutFlags | None = None
) -> ReservationRead:
    found = await release_reservations(uow=uow, reservation_ids=[reservation_id], sold_out=sold_out)
    if not found:
        raise ReservationNotFound(reservation_id=reservation_id)
    return found[0]


async def expire_due(
    *, uow: UnitOfWork, now: datetime | None = None, limit: int = 500, sold_out: SoldOutFlags | None = None
) -> int:
    """Expire up to `limit` holds past their expiry; several sweepers may run (SKIP LOCKED on PostgreSQL)."""
    now = now or utcnow()
    query = (
        select(Reservation.id)
        .where(Reservation.status == "held", Reservation.expires_at <= now)
        .order_by(Reservation.expires_at)
        .limit(limit)
    )
    if uow.is_postgres:
        query = query.with_for_update(skip_locked=True)
    ids = list((await uow.session.execute(query)).scalars())
    done = await _finish(uow, ids, to="expired", now=now, sold_out=sold_out, extra=(Reservation.expires_at <= now,))
    return len(done)


async def reserve_stock(
    *,
    uow: UnitOfWork,
    offer_id: str,
    quantity: int,
    user_id: str | None,
    ttl: timedelta,
    sold_out: SoldOutFlags | None,
    limits: HoldLimits | None = None,
) -> ReservationRead:
    """One buyer holds units of one offer (the HTTP hold used before checkout exists, and by load tests)."""
    [held] = await reserve_lines(
        uow=uow, lines=[(offer_id, quantity)], ttl=ttl, user_id=user_id, sold_out=sold_out, limits=limits
    )
    await uow.commit()
    return held


async def release_stock(
    *, uow: UnitOfWork, reservation_id: str, user_id: str, sold_out: SoldOutFlags | None
) -> ReservationRead:
    """A buyer gives up their own hold; another user's reservation is not found, a sold one is a conflict."""
    found = (await _load(uow, [reservation_id], lock=False)).get(reservation_id)
    if found is None or found.user_id != user_id:
        raise ReservationNotFound(reservation_id=reservation_id)
    if found.status == "committed":
        raise ReservationCommitted(reservation_id=reservation_id)
    released = await release_reservation(uow=uow, reservation_id=reservation_id, sold_out=sold_out)
    await uow.commit()
    return released


async def set_offer_buckets(*, uow: UnitOfWork, seller_id: str, offer_id: str, buckets: int) -> OfferStockRead:
    """A seller spreads a hot offer's stock over more rows (or fewer); held units stay where they are."""
    await ensure_seller_active(uow=uow, seller_id=seller_id)
    offer = (
        await uow.session.execute(select(Offer).where(Offer.id == offer_id, Offer.seller_id == seller_id))
    ).scalar_one_or_none()
    if offer is None:
        raise OfferNotFound(offer_id=offer_id)
    level = await set_bucket_count(uow=uow, offer_id=offer_id, product_id=offer.product_id, buckets=buckets)
    offer.bucket_count = buckets
    await uow.commit()
    return OfferStockRead(
        offer_id=offer_id,
        buckets=buckets,
        quantity=level.on_hand,
        available_quantity=level.available,
        availability=availability_label(level.available),
    )


async def reservation_stats(*, uow: UnitOfWork, seller_id: str) -> ReservationStats:
    """A seller's reservations by outcome and the reservation-to-purchase ratio (committed / made)."""
    rows = await uow.session.execute(
        select(Reservation.status, func.count())
        .join(Offer, Offer.id == Reservation.offer_id)
        .where(Offer.seller_id == seller_id)
        .group_by(Reservation.status)
    )
    by_status = {status: int(n) for status, n in rows}
    made = sum(by_status.values())
    committed = by_status.get("committed", 0)
    return ReservationStats(
        made=made,
        committed=committed,
        released=by_status.get("released", 0),
        expired=by_status.get("expired", 0),
        held=by_status.get("held", 0),
        reservation_to_purchase_ratio=round(committed / made, 4) if made else 0.0,
    )


async def reservation_ratio(*, uow: UnitOfWork, since: datetime) -> float:
    """Of the holds made since `since`, the share that became purchases (committed / made); 0 when none."""
    rows = await uow.session.execute(
        select(Reservation.status, func.count()).where(Reservation.created_at >= since).group_by(Reservation.status)
    )
    by_status = {status: int(n) for status, n in rows}
    made = sum(by_status.values())
    return round(by_status.get("committed", 0) / made, 4) if made else 0.0
