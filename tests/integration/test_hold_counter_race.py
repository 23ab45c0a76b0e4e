"""A buyer's hold counter made by two first holds at once (PostgreSQL, two connections): the second waits for the
first's row, then counts against what it holds, so the cap holds even for a buyer's very first holds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from bazaar.accounts.models import Seller
from bazaar.bootstrap import Container
from bazaar.inventory.errors import HoldLimitExceeded
from bazaar.inventory.limits import HoldLimits, claim_holds, end_holds
from bazaar.inventory.models import BuyerHolds
from tests.inventory_factories import make_offer, make_seller

LIMITS = HoldLimits(per_buyer=4, per_offer=4, per_minute=100)


@dataclass(frozen=True)
class _Hold:  # a hold that ended, as end_holds reads it
    user_id: str
    offer_id: str
    quantity: int


async def _fresh_buyer(container: Container) -> str:
    async with container.read_uow() as uow:
        seller = await uow.session.get(Seller, await make_seller(container))
        assert seller is not None
        return seller.user_id


async def _held(container: Container, user_id: str) -> tuple[int, dict[str, int]]:
    async with container.read_uow() as uow:
        row = await uow.session.get(BuyerHolds, user_id, populate_existing=True)
        return (row.units, dict(row.offers)) if row else (0, {})


async def _claim_and_commit(container: Container, buyer: str, wanted: dict[str, int]) -> None:
    """Another request of the same buyer: its own transaction on its own connection."""
    async with container.uow() as uow:
        await claim_holds(uow=uow, user_id=buyer, wanted=wanted, limits=LIMITS)
        await uow.commit()


@pytest.mark.usefixtures("pg_only")
async def test_two_first_holds_at_once_count_against_each_other(container: Container) -> None:
    offer = await make_offer(container, quantity=10)
    buyer = await _fresh_buyer(container)
    async with container.uow() as first:
        await claim_holds(uow=first, user_id=buyer, wanted={offer.id: 2}, limits=LIMITS)  # makes the row, uncommitted

        racing = asyncio.create_task(_claim_and_commit(container, buyer, {offer.id: 3}))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting on the first's new row, not taking it for its own
        await first.commit()
    with pytest.raises(HoldLimitExceeded):  # 2 held + 3 asked > 4: refused, not written over the first's count
        await racing
    assert await _held(container, buyer) == (2, {offer.id: 2})

    # Had the first given up instead, the second's count would have made the row itself.
    other = await _fresh_buyer(container)
    async with container.uow() as first:
        await claim_holds(uow=first, user_id=other, wanted={offer.id: 2}, limits=LIMITS)

        racing = asyncio.create_task(_claim_and_commit(container, other, {offer.id: 3}))
        await asyncio.sleep(0.3)
        await first.rollback()
    await racing
    assert await _held(container, other) == (3, {offer.id: 3})

    async with container.uow() as uow:  # and ending holds takes them off again
        await end_holds(uow=uow, holds=[_Hold(other, offer.id, 3)])
        await uow.commit()
    assert await _held(container, other) == (0, {})


async def _refused(container: Container, buyer: str, wanted: dict[str, int], **caps: int) -> HoldLimitExceeded:
    async with container.uow() as uow:
        with pytest.raises(HoldLimitExceeded) as refused:
            await claim_holds(uow=uow, user_id=buyer, wanted=wanted, limits=LIMITS, offer_caps=caps or None)
    return refused.value


async def test_a_claim_past_a_cap_says_what_the_buyer_holds_and_counts_nothing(container: Container) -> None:
    """On PostgreSQL a claim is one statement that adds only within the caps; one it refuses still names what the
    buyer holds (read then), as on SQLite, and leaves the count as it was."""
    first = await make_offer(container, quantity=10)
    second = await make_offer(container, quantity=10)
    buyer = await _fresh_buyer(container)
    await _claim_and_commit(container, buyer, {first.id: 2})
    await _claim_and_commit(container, buyer, {first.id: 1, second.id: 1})  # added to the row, offer by offer
    assert await _held(container, buyer) == (4, {first.id: 3, second.id: 1})

    over_all = await _refused(container, buyer, {second.id: 1})  # 4 held + 1 > 4 over all offers
    assert (over_all.details["held"], over_all.details["limit"]) == (4, 4)
    alone_too_many = await _refused(container, buyer, {second.id: 5})  # past the cap even alone: still says 4 held
    assert alone_too_many.details["held"] == 4
    assert await _held(container, buyer) == (4, {first.id: 3, second.id: 1})

    async with container.uow() as uow:
        await end_holds(uow=uow, holds=[_Hold(buyer, first.id, 3)])
        await uow.commit()
    # A tighter cap of one offer (a flash sale's per-buyer limit) counts what the buyer holds of it.
    per_offer = await _refused(container, buyer, {second.id: 1}, **{second.id: 1})
    assert (per_offer.details["offer_id"], per_offer.details["held"], per_offer.details["limit"]) == (second.id, 1, 1)
    await _claim_and_commit(container, buyer, {first.id: 3})
    assert await _held(container, buyer) == (4, {first.id: 3, second.id: 1})

    async with container.uow() as uow:  # counting without limits (an ending's undo) passes any cap
        await claim_holds(uow=uow, user_id=buyer, wanted={second.id: 6}, limits=None)
        await uow.commit()
    assert await _held(container, buyer) == (10, {first.id: 3, second.id: 7})
