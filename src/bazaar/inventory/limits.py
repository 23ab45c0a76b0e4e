"""Hold limits: how many units one buyer may hold at once, over all offers and per offer.

Without them one account could hold a product's whole stock for free, again and again. A buyer's held
units live in one counter row (`buyer_holds`), changed in the same transaction (or, on the flash-sale path,
the same statement) as the holds themselves: making a hold adds to it, a hold that ends (sold, released,
expired) takes away. Every change locks the row, so a buyer's parallel holds queue on it and the cap holds
whatever they send at once. Lock order: stock buckets first, then the buyer's row (as `hot.py` does).

`claim_holds` is the one cap check: checkout, `POST /reservations` and per-buyer sale limits go through it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Boolean, Integer, String, Table, bindparam, select, text, update

from bazaar.db.dialects import PerDialect
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.errors import HoldLimitExceeded
from bazaar.inventory.models import BuyerHolds
from bazaar.kernel.clock import utcnow


@dataclass(frozen=True)
class HoldLimits:
    per_buyer: int  # units one buyer may hold at once, over all offers
    per_offer: int  # units one buyer may hold at once of one offer
    per_minute: int  # holds (POST /reservations) one buyer may ask for per minute

    @classmethod
    def from_settings(cls, settings: Any) -> HoldLimits:
        return cls(
            per_buyer=settings.hold_max_units_per_buyer,
            per_offer=settings.hold_max_units_per_offer,
            per_minute=settings.hold_limit_per_minute,
        )


def check_hold_cap(
    *,
    held: int,
    held_by_offer: Mapping[str, int],
    wanted: Mapping[str, int],
    limits: HoldLimits,
    offer_caps: Mapping[str, int] | None = None,
) -> None:
    """Raise HoldLimitExceeded unless a buyer holding `held` units (`held_by_offer` per offer) may add `wanted`.

    `offer_caps` tightens the per-offer cap for some offers (a flash sale's per-buyer limit, for example).
    """
    total = sum(wanted.values())
    if held + total > limits.per_buyer:
        raise HoldLimitExceeded(
            f"you may hold at most {limits.per_buyer} units at once; you hold {held}",
            limit=limits.per_buyer,
            held=held,
            requested=total,
        )
    for offer_id, quantity in sorted(wanted.items()):
        cap = min(limits.per_offer, (offer_caps or {}).get(offer_id, limits.per_offer))
        mine = held_by_offer.get(offer_id, 0)
        if mine + quantity > cap:
            raise HoldLimitExceeded(
                f"you may hold at most {cap} units of this offer at once; you hold {mine}",
                offer_id=offer_id,
                limit=cap,
                held=mine,
                requested=quantity,
            )


_HOLDS = cast(Table, BuyerHolds.__table__)
# Built once: every hold and every sale runs them.
_LOCK_ROW = Prepared(
    select(_HOLDS.c.units, _HOLDS.c.offers).where(_HOLDS.c.user_id == bindparam("buyer")).with_for_update()
)
_STORE_ROW = Prepared(
    update(_HOLDS)
    .where(_HOLDS.c.user_id == bindparam("buyer"))
    .values(
        units=bindparam("new_units", type_=_HOLDS.c.units.type),
        offers=bindparam("new_offers", type_=_HOLDS.c.offers.type),
        updated_at=bindparam("now", type_=_HOLDS.c.updated_at.type),
    )
)
_FIRST_ROW = PerDialect(
    lambda insert: insert(_HOLDS).on_conflict_do_nothing(index_elements=[_HOLDS.c.user_id]).returning(_HOLDS.c.user_id)
).prepared()


async def _lock_row(uow: UnitOfWork, user_id: str) -> tuple[int, dict[str, int]] | None:
    """The buyer's (units, offers), their row locked until the transaction ends (PostgreSQL; SQLite runs one
    writing transaction at a time); None if they have no row."""
    row = (await uow.fetch(_LOCK_ROW, {"buyer": user_id})).first()
    return None if row is None else (int(row[0]), dict(row[1] or {}))


async def _insert_row(uow: UnitOfWork, user_id: str, units: int, offers: dict[str, int]) -> bool:
    """The buyer's first row, with these counts; False if a racing first hold made it first (then lock that)."""
    values = {"user_id": user_id, "units": units, "offers": offers, "updated_at": utcnow()}
    return (await uow.fetch(_FIRST_ROW, values)).first() is not None


async def _store_row(uow: UnitOfWork, user_id: str, units: int, offers: dict[str, int]) -> None:
    values = {"buyer": user_id, "new_units": units, "new_offers": offers, "now": utcnow()}
    await uow.fetch(_STORE_ROW, values)


# PostgreSQL: a buyer's new holds counted by one statement, which makes their row or adds to it only while the caps
# allow (the per-offer caps as one JSON object, the wanted units as another); nothing answered means the row is
# there and a cap would be passed, which the read-and-check path then says in detail (or, should holds have ended
# meanwhile, counts). The row is locked by the statement as by the read it spares.
_CLAIM = Prepared(
    text(
        """
        INSERT INTO buyer_holds (user_id, units, offers, updated_at)
        VALUES (:buyer, :total, CAST(:wanted AS json), :now)
        ON CONFLICT (user_id) DO UPDATE SET
            units = buyer_holds.units + excluded.units,
            offers = coalesce((
                SELECT json_object_agg(counted.key, counted.units)
                FROM (
                    SELECT held.key, sum(held.units)::integer AS units
                    FROM (
                        SELECT h.key, (h.value #>> '{}')::integer AS units FROM json_each(buyer_holds.offers) AS h
                        UNION ALL
                        SELECT w.key, (w.value #>> '{}')::integer FROM json_each(excluded.offers) AS w
                    ) AS held
                    GROUP BY held.key
                ) AS counted
            ), '{}'::json),
            updated_at = excluded.updated_at
        WHERE :unchecked OR (
            buyer_holds.units + excluded.units <= :per_buyer
            AND NOT EXISTS (
                SELECT 1 FROM json_each(excluded.offers) AS w
                WHERE coalesce((buyer_holds.offers ->> w.key)::integer, 0) + (w.value #>> '{}')::integer
                    > (CAST(:caps AS json) ->> w.key)::integer
            )
        )
        RETURNING buyer_holds.user_id
        """
    ).bindparams(
        bindparam("buyer", type_=String()),
        bindparam("total", type_=Integer()),
        bindparam("wanted", type_=String()),
        bindparam("now", type_=_HOLDS.c.updated_at.type),
        bindparam("unchecked", type_=Boolean()),
        bindparam("per_buyer", type_=Integer()),
        bindparam("caps", type_=String()),
    )
)


async def _claim_at_once(
    uow: UnitOfWork,
    user_id: str,
    wanted: Mapping[str, int],
    limits: HoldLimits | None,
    offer_caps: Mapping[str, int] | None,
) -> bool:
    """`claim_holds` in one statement (PostgreSQL); False when it counted nothing (see _CLAIM)."""
    caps = {}
    if limits is not None:
        # What is wanted must fit on its own (a buyer's first row is made without a check in the statement); if it
        # does not, the read-and-check path says by how much, with what the buyer holds.
        try:
            check_hold_cap(held=0, held_by_offer={}, wanted=wanted, limits=limits, offer_caps=offer_caps)
        except HoldLimitExceeded:
            return False
        caps = {o: min(limits.per_offer, (offer_caps or {}).get(o, limits.per_offer)) for o in wanted}
    params = {
        "buyer": user_id,
        "total": sum(wanted.values()),
        "wanted": json.dumps(dict(wanted)),
        "now": utcnow(),
        "unchecked": limits is None,
        "per_buyer": limits.per_buyer if limits is not None else 0,
        "caps": json.dumps(caps),
    }
    return (await uow.fetch(_CLAIM, params)).first() is not None


async def claim_holds(
    *,
    uow: UnitOfWork,
    user_id: str,
    wanted: Mapping[str, int],
    limits: HoldLimits | None,
    offer_caps: Mapping[str, int] | None = None,
) -> None:
    """Count `wanted` ({offer_id: units}) as held by the buyer, or raise HoldLimitExceeded and change nothing.

    Every hold of a buyer is counted (`limits=None` counts without checking: the ending of a hold always
    subtracts). Locks the buyer's row until the caller's transaction ends: call it after taking the stock.
    """
    if uow.is_postgres and await _claim_at_once(uow, user_id, wanted, limits, offer_caps):
        return
    row = await _lock_row(uow, user_id)
    first = row is None
    if row is None:
        row = (0, {})
    units, offers = row
    if limits is not None:
        check_hold_cap(held=units, held_by_offer=offers, wanted=wanted, limits=limits, offer_caps=offer_caps)
    for offer_id, quantity in wanted.items():
        offers[offer_id] = offers.get(offer_id, 0) + quantity
    if first and await _insert_row(uow, user_id, sum(wanted.values()), offers):
        return
    if first:  # another first hold of this buyer made the row meanwhile: count against what it holds now
        await claim_holds(uow=uow, user_id=user_id, wanted=wanted, limits=limits, offer_caps=offer_caps)
        return
    await _store_row(uow, user_id, units + sum(wanted.values()), offers)


# PostgreSQL: a buyer's ended holds taken off their row by one statement (its lock taken by the UPDATE itself), each
# offer's count kept only while some are left, as `end_holds` does on SQLite with a read and a write.
_END_HOLDS = Prepared(
    text(
        """
        UPDATE buyer_holds SET
            units = greatest(0, buyer_holds.units - :ended_units),
            offers = coalesce((
                SELECT json_object_agg(held.key, held.units_left)
                FROM (
                    SELECT h.key, (h.value #>> '{}')::integer - coalesce((CAST(:ended AS jsonb) ->> h.key)::integer, 0)
                        AS units_left
                    FROM json_each(buyer_holds.offers) AS h
                ) AS held
                WHERE held.units_left > 0
            ), '{}'::json),
            updated_at = :now
        WHERE buyer_holds.user_id = :buyer
        RETURNING buyer_holds.user_id
        """
    ).bindparams(
        bindparam("ended_units", type_=Integer()),
        bindparam("ended", type_=String()),
        bindparam("now", type_=_HOLDS.c.updated_at.type),
        bindparam("buyer", type_=String()),
    )
)


async def end_holds(*, uow: UnitOfWork, holds: Iterable[Any]) -> None:
    """Holds that ended (rows with user_id, offer_id, quantity) no longer count against their buyers."""
    by_user: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for hold in holds:
        if hold.user_id is not None:
            by_user[hold.user_id][hold.offer_id] += int(hold.quantity)
    for user_id in sorted(by_user):
        ended = by_user[user_id]
        if uow.is_postgres:  # a buyer without a row (made before hold limits counted holds): nothing to take away
            params = {"buyer": user_id, "ended_units": sum(ended.values()), "ended": json.dumps(ended), "now": utcnow()}
            await uow.fetch(_END_HOLDS, params)
            continue
        row = await _lock_row(uow, user_id)
        if row is None:  # made before hold limits counted holds: nothing is counted to take away
            continue
        units, offers = row
        for offer_id, quantity in by_user[user_id].items():
            left = offers.get(offer_id, 0) - quantity
            if left > 0:
                offers[offer_id] = left
            else:
                offers.pop(offer_id, None)
        await _store_row(uow, user_id, max(0, units - sum(by_user[user_id].values())), offers)
