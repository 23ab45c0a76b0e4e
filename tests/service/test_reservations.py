"""Reservations as use cases, on both backends: hold, commit, release, expire, all-or-nothing, buckets, flags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bazaar.bootstrap import Container
from bazaar.db.outbox import OutboxEvent
from bazaar.inventory import metrics
from bazaar.inventory import service as inventory
from bazaar.inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    OfferNotFound,
    ReservationExpired,
    ReservationReleased,
    StockBelowHeld,
)
from bazaar.inventory.events import StockChanged
from bazaar.inventory.stock import set_bucket_count, set_on_hand
from bazaar.kernel.clock import utcnow
from tests.helpers import drain_events
from tests.inventory_factories import levels, make_offer, restock, set_status

TTL = timedelta(minutes=10)


async def reserve(container: Container, lines: list[tuple[str, int]], ttl: timedelta = TTL) -> list[str]:
    async with container.uow() as uow:
        held = await inventory.reserve_lines(uow=uow, lines=lines, ttl=ttl, sold_out=container.sold_out)
        await uow.commit()
        return [r.id for r in held]


async def test_reserve_then_commit_sells_units_once(container: Container) -> None:
    offer = await make_offer(container, quantity=10)
    [rid] = await reserve(container, [(offer.id, 3)])
    assert await levels(container, offer.id) == (10, 7)

    async with container.uow() as uow:
        committed = await inventory.commit_reservation(uow=uow, reservation_id=rid)
        await uow.commit()
    assert committed.status == "committed"
    assert await levels(container, offer.id) == (7, 7)

    async with container.uow() as uow:  # a retried commit changes nothing
        again = await inventory.commit_reservation(uow=uow, reservation_id=rid)
        released = await inventory.release_reservation(uow=uow, reservation_id=rid)
        await uow.commit()
    assert again.status == "committed" and released.status == "committed"
    assert await levels(container, offer.id) == (7, 7)


async def test_release_twice_returns_units_once(container: Container) -> None:
    offer = await make_offer(container, quantity=5)
    [rid] = await reserve(container, [(offer.id, 4)])
    for _ in range(2):
        async with container.uow() as uow:
            released = await inventory.release_reservation(uow=uow, reservation_id=rid)
            await uow.commit()
        assert released.status == "released"
    assert await levels(container, offer.id) == (5, 5)
    async with container.uow() as uow:
        with pytest.raises(ReservationReleased):
            await inventory.commit_reservation(uow=uow, reservation_id=rid)


async def test_a_cart_is_reserved_all_or_nothing(container: Container) -> None:
    plenty = await make_offer(container, quantity=5)
    scarce = await make_offer(container, quantity=1)
    async with container.uow() as uow:
        with pytest.raises(InsufficientStock) as caught:
            await inventory.reserve_lines(uow=uow, lines=[(plenty.id, 2), (scarce.id, 2)], ttl=TTL)
        # The caller's transaction may go on (a checkout records its failure): nothing stays taken.
        await uow.commit()
    assert caught.value.details["offers"] == [{"offer_id": scarce.id, "requested": 2, "available": 1}]
    assert await levels(container, plenty.id) == (5, 5)
    assert await levels(container, scarce.id) == (1, 1)


async def test_expired_holds_come_back_once_and_cannot_be_committed(container: Container) -> None:
    offer = await make_offer(container, quantity=6)
    rids = await reserve(container, [(offer.id, 2)]) + await reserve(container, [(offer.id, 3)])
    later = utcnow() + TTL + timedelta(seconds=1)
    async with container.uow() as uow:
        assert await inventory.expire_due(uow=uow, now=later) == 2
        await uow.commit()
    async with container.uow() as uow:
        assert await inventory.expire_due(uow=uow, now=later) == 0
        await uow.commit()
    assert await levels(container, offer.id) == (6, 6)
    async with container.uow() as uow:
        with pytest.raises(ReservationExpired):
            await inventory.commit_reservation(uow=uow, reservation_id=rids[0])


async def test_a_hold_past_its_expiry_cannot_be_committed_before_the_sweeper_runs(container: Container) -> None:
    offer = await make_offer(container, quantity=2)
    [rid] = await reserve(container, [(offer.id, 1)], ttl=timedelta(seconds=-1))
    async with container.uow() as uow:
        with pytest.raises(ReservationExpired):
            await inventory.commit_reservation(uow=uow, reservation_id=rid)
    assert await levels(container, offer.id) == (2, 1)


async def test_a_line_bigger_than_any_bucket_is_gathered_into_one_hold(container: Container) -> None:
    offer = await make_offer(container, quantity=8, buckets=4)  # 2 units per bucket
    rids = await reserve(container, [(offer.id, 5), (offer.id, 1)])
    assert len(rids) == 1  # one hold per offer, so a checkout commits every unit it reserved
    assert await levels(container, offer.id) == (8, 2)
    async with container.uow() as uow:
        with pytest.raises(InsufficientStock):
            await inventory.reserve_lines(uow=uow, lines=[(offer.id, 3)], ttl=TTL)
    async with container.uow() as uow:
        await inventory.commit_reservations(uow=uow, reservation_ids=rids)
        await uow.commit()
    assert await levels(container, offer.id) == (2, 2)


async def test_restock_and_rebucketing_keep_holds(container: Container) -> None:
    offer = await make_offer(container, quantity=10)
    [rid] = await reserve(container, [(offer.id, 4)])
    await restock(container, offer, 20)
    assert await levels(container, offer.id) == (20, 16)
    with pytest.raises(StockBelowHeld):
        await restock(container, offer, 3)
    async with container.uow() as uow:
        await set_bucket_count(uow=uow, offer_id=offer.id, product_id=offer.product_id, buckets=8)
        await uow.commit()
    assert await levels(container, offer.id) == (20, 16)
    async with container.uow() as uow:
        await inventory.commit_reservation(uow=uow, reservation_id=rid)
        await uow.commit()
    assert await levels(container, offer.id) == (16, 16)


async def test_sold_out_flag_turns_buyers_away_until_restock(container: Container) -> None:
    offer = await make_offer(container, quantity=2)
    await reserve(container, [(offer.id, 2)])
    assert await container.sold_out.is_sold_out(offer.id)
    before = metrics.SOLD_OUT_FAST_REJECTIONS._value.get()
    async with container.uow() as uow:
        with pytest.raises(InsufficientStock):
            await inventory.reserve_lines(uow=uow, lines=[(offer.id, 1)], ttl=TTL, sold_out=container.sold_out)
    assert metrics.SOLD_OUT_FAST_REJECTIONS._value.get() == before + 1
    await restock(container, offer, 5)
    assert not await container.sold_out.is_sold_out(offer.id)
    await reserve(container, [(offer.id, 1)])
    assert await levels(container, offer.id) == (5, 2)


async def test_a_stale_stock_event_does_not_lift_the_sold_out_flag(container: Container) -> None:
    """An event written while another cart took the last units may still report units: the flag stays."""
    offer = await make_offer(container, quantity=1)
    await reserve(container, [(offer.id, 1)])
    assert await container.sold_out.is_sold_out(offer.id)
    async with container.uow() as uow:
        uow.emit(StockChanged(offer.id, offer.product_id, on_hand=1, available=1))
        await uow.commit()
    await drain_events(container)
    assert await container.sold_out.is_sold_out(offer.id)
    async with container.uow() as uow:  # a real restock, as a seller's stock edit makes it: the consumer lifts it
        await set_on_hand(uow=uow, offer_id=offer.id, product_id=offer.product_id, quantity=3)
        await uow.commit()
    assert await container.sold_out.is_sold_out(offer.id)
    await drain_events(container)
    assert not await container.sold_out.is_sold_out(offer.id)


async def test_bad_lines_are_refused(container: Container) -> None:
    offer = await make_offer(container, quantity=2)
    async with container.uow() as uow:
        with pytest.raises(InvalidQuantity):
            await inventory.reserve_lines(uow=uow, lines=[(offer.id, 0)], ttl=TTL)
        with pytest.raises(OfferNotFound):
            await inventory.reserve_lines(uow=uow, lines=[("nope", 1)], ttl=TTL)
    await set_status(container, offer.id, "inactive")
    async with container.uow() as uow:
        with pytest.raises(OfferNotFound):
            await inventory.reserve_lines(uow=uow, lines=[(offer.id, 1)], ttl=TTL)


async def test_events_and_stats_follow_each_outcome(container: Container) -> None:
    offer = await make_offer(container, quantity=3)
    made = await reserve(container, [(offer.id, 1)]) + await reserve(container, [(offer.id, 1)])
    async with container.uow() as uow:
        await inventory.commit_reservation(uow=uow, reservation_id=made[0])
        await inventory.release_reservation(uow=uow, reservation_id=made[1])
        await uow.commit()
    async with container.read_uow() as uow:
        topics = list((await uow.session.execute(select(OutboxEvent.topic).order_by(OutboxEvent.id))).scalars())
        stats = await inventory.reservation_stats(uow=uow, seller_id=offer.seller_id)
    assert topics.count("inventory.reservations_made.v1") == 2
    assert "inventory.reservations_committed.v1" in topics
    assert "inventory.reservation_released.v1" in topics
    assert (stats.made, stats.committed, stats.released) == (2, 1, 1)
    assert stats.reservation_to_purchase_ratio == 0.5


async def test_a_request_holding_and_selling_several_offers_says_so_in_one_event_each(container: Container) -> None:
    """One event for a request's holds and one for its sale, however many lines; a sale tells readers of the stock
    only where buyers see a count (a low level), since the hold already took the units out of what is available."""
    plenty, low = await make_offer(container, quantity=500), await make_offer(container, quantity=6)
    made = await reserve(container, [(plenty.id, 2), (low.id, 3)])
    async with container.uow() as uow:
        await inventory.commit_reservations(uow=uow, reservation_ids=made)
        await uow.commit()
    async with container.read_uow() as uow:
        rows = (await uow.session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars().all()
    by_topic: dict[str, list[OutboxEvent]] = {}
    for row in rows:
        by_topic.setdefault(row.topic, []).append(row)
    [held] = by_topic["inventory.reservations_made.v1"]
    [sold] = by_topic["inventory.reservations_committed.v1"]
    first = min(plenty.id, low.id)
    assert held.key == sold.key == first
    for event in (held, sold):
        holds = sorted((h["offer_id"], h["quantity"], h["seller_id"]) for h in event.payload["holds"])
        assert holds == sorted([(plenty.id, 2, plenty.seller_id), (low.id, 3, low.seller_id)])
        assert {h["reservation_id"] for h in event.payload["holds"]} == set(made)
    stock = [(r.payload["offer_id"], r.payload["available"]) for r in by_topic.get("inventory.stock_changed.v1", [])]
    # Stocking each offer told of it once; the sale told only of the low one (3 left, shown as "only 3 left").
    assert stock.count((plenty.id, 500)) == 1 and stock.count((low.id, 6)) == 1
    assert (low.id, 3) in stock
    assert all(offer_id != plenty.id for offer_id, available in stock if available != 500)


async def test_the_sweeper_worker_returns_abandoned_holds(container: Container) -> None:
    from bazaar.workers import reservation_sweeper
    from bazaar.workers.runner import all_workers

    assert "reservation-sweeper" in {w.name for w in all_workers(container)}
    offer = await make_offer(container, quantity=3)
    await reserve(container, [(offer.id, 3)], ttl=timedelta(seconds=-1))
    assert await container.sold_out.is_sold_out(offer.id)
    assert await reservation_sweeper.run_once(container) == 1
    assert await reservation_sweeper.run_once(container) == 0
    assert await levels(container, offer.id) == (3, 3)
    assert not await container.sold_out.is_sold_out(offer.id)


async def test_holds_and_sales_told_one_by_one_by_an_earlier_version_still_count(container: Container) -> None:
    """Events an earlier version emitted, one per hold, may still wait in the stream when the new version starts:
    the sellers' figures count them as they count the batched ones."""
    from bazaar.inventory.events import ReservationMade
    from bazaar.notifications.service import seller_stats

    offer = await make_offer(container, quantity=50)
    made = await reserve(container, [(offer.id, 2)])  # the new event: one hold of 2 units
    async with container.uow() as uow:
        uow.emit(ReservationMade("r-old-1", offer.id, offer.seller_id, 3, "2026-12-06T00:00:00Z"))
        uow.emit(ReservationMade("r-old-2", offer.id, offer.seller_id, 1, "2026-12-06T00:00:00Z"))
        await uow.commit()
    await drain_events(container)
    async with container.read_uow() as uow:
        stats = await seller_stats(uow=uow, seller_id=offer.seller_id)
    assert len(made) == 1 and stats.reservations == 3


async def test_a_cart_held_in_one_statement_runs_again_when_an_offer_was_split_meanwhile(
    container: Container, pg_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two offers read as one bucket each are held in one statement. One of them was split into four buckets
    between that read and the statement (its bucket 0 now has too few units): the hold is not refused for want
    of stock; the transaction runs again, reads the four buckets and gathers the units."""
    from dataclasses import replace

    from bazaar.inventory import allocation

    one = await make_offer(container, quantity=5, buckets=1)
    split = await make_offer(container, quantity=8, buckets=4)  # 2 units in each bucket
    real, reads = allocation.offer_stock, []

    async def read_before_the_split(uow, offer_ids):  # type: ignore[no-untyped-def]
        stocks = await real(uow, offer_ids)
        reads.append(len(reads))
        if len(reads) == 1:  # as read just before the seller split the offer
            stocks[split.id] = replace(stocks[split.id], buckets=1, largest=8)
        return stocks

    monkeypatch.setattr(allocation, "offer_stock", read_before_the_split)
    async with container.uow() as uow:
        held = await uow.run(lambda: _reserve_in(uow, [(one.id, 1), (split.id, 3)]))
    assert len(reads) == 2  # read again after the first statement found bucket 0 short
    assert sorted(r.quantity for r in held) == [1, 3]
    assert await levels(container, split.id) == (8, 5)
    assert await levels(container, one.id) == (5, 4)


async def _reserve_in(uow, lines):  # type: ignore[no-untyped-def]
    held = await inventory.reserve_lines(uow=uow, lines=lines, ttl=TTL)
    await uow.commit()
    return held
