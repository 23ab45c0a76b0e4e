"""The waiting room under real concurrency: hundreds of joins at once through three processes' connections
(Redis clients, or PostgreSQL pools for the database queue) get one arrival order, one ticket per buyer,
and admissions in exactly that order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bazaar.bootstrap import Container, build_container
from bazaar.flash_sales.db_room import DatabaseWaitingRoom
from bazaar.flash_sales.ports import WaitingRoom
from bazaar.kernel.clock import utcnow
from tests.integration.test_flash_sale_concurrency import live_sale, make_buyers

pytestmark = pytest.mark.usefixtures("pg_only")


@pytest.fixture
async def processes(container: Container) -> AsyncIterator[list[Container]]:
    """Three more "processes" on the same database and the same Redis namespace."""
    same = container.settings.model_copy(update={"db_pool_size": 20, "db_max_overflow": 0})
    extra = [build_container(same) for _ in range(3)]
    try:
        yield extra
    finally:
        for c in extra:
            await c.close()


def rooms(processes: list[Container], kind: str) -> list[WaitingRoom]:
    if kind == "database":
        return [DatabaseWaitingRoom(c.uow) for c in processes]
    assert processes[0].settings.redis_url, "the Redis queue needs BAZAAR_TEST_REDIS_URL"
    return [c.waiting_room for c in processes]


@pytest.mark.parametrize("kind", ["redis", "database"])
async def test_joins_at_once_get_one_order_and_admissions_follow_it(
    container: Container, processes: list[Container], kind: str
) -> None:
    _, sale_id = await live_sale(container, stock=50, units=10, limit=1)
    buyers = await make_buyers(container, 240)
    room = rooms(processes, kind)
    now = utcnow()
    # Every buyer joins, arriving 1 µs apart; the first 20 from three devices at once.
    joins = [(i, b, i % 3) for i, b in enumerate(buyers)] + [(i, b, (i + 1) % 3) for i, b in enumerate(buyers[:20])] * 2
    places = await asyncio.gather(
        *(
            room[d].join(sale_id, b, now=now, keep_seconds=3600, arrived=now + timedelta(microseconds=i))
            for i, b, d in joins
        )
    )
    by_buyer: dict[str, set[str]] = {}
    for p in places:
        by_buyer.setdefault(p.buyer_id, set()).add(p.ticket_id)
    assert all(len(tickets) == 1 for tickets in by_buyer.values()) and len(by_buyer) == 240
    seq = {p.ticket_id: p.seq for p in places}
    assert sorted(seq.values()) == list(range(1, 241))  # one gap-free arrival order across processes

    # Three admitters at once, 30 each: 90 admitted, the 90 earliest arrivals, each once.
    until = now + timedelta(minutes=2)
    rounds = await asyncio.gather(
        *(r.admit(sale_id, 30, now=now, until=until, idle_before=now - timedelta(minutes=1)) for r in room)
    )
    admitted = [p.ticket_id for r in rounds for p in r]
    assert len(admitted) == len(set(admitted)) == 90
    ticket_of = {p.buyer_id: p.ticket_id for p in places}
    if kind == "redis":  # ordered by when each join reached the server
        assert set(admitted) == {ticket_of[b] for b in buyers[:90]}
    else:  # ordered by each join's turn on the sale row
        assert sorted(seq[t] for t in admitted) == list(range(1, 91))
    counts = await room[0].counts(sale_id, now=now)
    assert (counts.waiting, counts.outstanding, counts.admitted) == (150, 90, 90)
    latest = ticket_of[buyers[-1]] if kind == "redis" else max(places, key=lambda p: p.seq).ticket_id
    assert (await room[1].look(sale_id, latest, now=now)).position == 150  # type: ignore[union-attr]
