"""Sold-out flags in Redis, as two web processes see them: shared, remembered briefly, the database decides."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from bazaar.adapters.sold_out import NOT_SOLD_OUT_SECONDS, SOLD_OUT_SECONDS, RedisSoldOutFlags
from bazaar.bootstrap import Container

pytestmark = pytest.mark.usefixtures("pg_only")


async def test_two_processes_share_flags_and_trust_an_answer_only_briefly(container: Container) -> None:
    if not container.settings.redis_url:
        pytest.skip("BAZAAR_TEST_REDIS_URL is not set")
    url, prefix = container.settings.redis_url, container.settings.redis_prefix + "flags-test:"
    a = RedisSoldOutFlags(Redis.from_url(url), prefix=prefix)
    b = RedisSoldOutFlags(Redis.from_url(url), prefix=prefix)
    try:
        assert not await b.is_sold_out("offer-1")
        await a.mark_sold_out("offer-1", 5)
        assert await a.is_sold_out("offer-1")  # the process that sold the last unit knows at once
        await asyncio.sleep(NOT_SOLD_OUT_SECONDS + 0.02)
        assert await b.is_sold_out("offer-1")  # the other one within NOT_SOLD_OUT_SECONDS
        await a.clear("offer-1")  # a restock
        assert not await a.is_sold_out("offer-1")
        await asyncio.sleep(SOLD_OUT_SECONDS + 0.02)
        assert not await b.is_sold_out("offer-1")  # and within SOLD_OUT_SECONDS in the other process
    finally:
        await a.close()
        await b.close()


async def test_a_carts_offers_are_asked_about_in_one_round_trip(container: Container) -> None:
    """A checkout of three lines asks Redis about all three in one round trip, and what it was told stands for the
    next ask."""
    if not container.settings.redis_url:
        pytest.skip("BAZAAR_TEST_REDIS_URL is not set")
    url, prefix = container.settings.redis_url, container.settings.redis_prefix + "flags-many:"
    a = RedisSoldOutFlags(Redis.from_url(url), prefix=prefix)
    b = RedisSoldOutFlags(Redis.from_url(url), prefix=prefix)
    sent: list[list[object]] = []
    pipeline = b.client.pipeline

    def counted(*args: object, **options: object) -> object:
        pipe = pipeline(*args, **options)  # type: ignore[arg-type]
        execute = pipe.execute

        async def sent_once(*a: object, **kw: object) -> object:
            sent.append([command[0][0] for command in pipe.command_stack])
            return await execute(*a, **kw)  # type: ignore[arg-type]

        pipe.execute = sent_once  # type: ignore[method-assign]
        return pipe

    b.client.pipeline = counted  # type: ignore[method-assign]
    try:
        await a.mark_sold_out("offer-2", 5)
        assert await b.sold_out_of(["offer-1", "offer-2", "offer-3", "offer-2"]) == {"offer-2"}
        assert sent == [["EXISTS", "EXISTS", "EXISTS"]], sent  # one round trip for the three
        assert await b.sold_out_of(["offer-3", "offer-2"]) == {"offer-2"}  # remembered: no second ask
        assert len(sent) == 1
        assert await b.sold_out_of([]) == set()
    finally:
        await a.clear("offer-2")
        await a.close()
        await b.close()
