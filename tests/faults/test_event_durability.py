"""Events survive the loss of the broker (finding 1): Redis restarted without saving, or flushed, while
events are being published and consumed; afterwards every event has been handled by every subscription,
exactly once in effect, and every outbox row is settled. A private redis-server, never the shared one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import redis
from sqlalchemy import func, select

from bazaar.bootstrap import SHARED, Container, build_container
from bazaar.db.outbox import InboxEntry, OutboxEvent
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.events import Event
from bazaar.workers import outbox_relay
from bazaar.workers.runner import run_all
from tests.conftest import truncate_all
from tests.private_servers import PrivateRedis

CONSUMERS = ("durable-a", "durable-b")


@dataclass(frozen=True)
class Ticked(Event):
    topic: ClassVar[str] = "durability.ticked.v1"
    key_field: ClassVar[str] = "clock_id"
    clock_id: str
    seq: int


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


class Counting:
    def __init__(self) -> None:
        self.effects: dict[str, int] = {}

    async def __call__(self, uow: UnitOfWork, event: dict[str, Any]) -> None:
        async def count() -> None:
            self.effects[event["event_id"]] = self.effects.get(event["event_id"], 0) + 1

        uow.after_commit(count)


@pytest.fixture
async def durable(
    settings_factory: Any, redis_server: PrivateRedis
) -> AsyncIterator[tuple[Container, dict[str, Counting]]]:
    settings = settings_factory(worker_poll_seconds=0.05, event_republish_grace_seconds=1.0)
    container = build_container(settings.model_copy(update={"redis_url": redis_server.url}))
    await truncate_all(container)
    recorders = {name: Counting() for name in CONSUMERS}
    for name, recorder in recorders.items():
        container.subscribe(name, ("durability.",), recorder, scope=SHARED)
    try:
        yield container, recorders
    finally:
        await container.close()


async def _emit(container: Container, start: int, n: int) -> list[str]:
    async with container.uow() as uow:
        ids = [uow.emit(Ticked(clock_id=f"clock-{i % 7}", seq=i)) for i in range(start, start + n)]
        await uow.commit()
    return ids


async def _unhandled(container: Container, ids: list[str]) -> dict[str, int]:
    """Per consumer, how many of `ids` it has not handled (the issue's NOT EXISTS query)."""
    missing = {}
    async with container.read_uow() as uow:
        for consumer in CONSUMERS:
            handled = (
                select(func.count())
                .select_from(InboxEntry)
                .where(InboxEntry.consumer == consumer, InboxEntry.event_id.in_(ids))
            )
            missing[consumer] = len(ids) - int((await uow.session.execute(handled)).scalar_one())
    return missing


async def _unsettled(container: Container) -> int:
    async with container.read_uow() as uow:
        query = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.settled_at.is_(None))
        return int((await uow.session.execute(query)).scalar_one())


async def test_events_published_before_redis_lost_its_data_are_published_again_and_handled(
    durable: tuple[Container, dict[str, Counting]], redis_server: PrivateRedis
) -> None:
    container, recorders = durable
    ids = await _emit(container, 0, 40)
    assert await outbox_relay.run_once(container) == 40  # on the stream, nobody has read them yet
    redis_server.restart_empty()  # ... and gone

    stop = asyncio.Event()
    workers = asyncio.create_task(run_all(container, stop))
    try:
        for round_ in range(12):  # mixed load: events keep coming while Redis is lost twice more
            ids += await _emit(container, 40 + round_ * 20, 20)
            await asyncio.sleep(0.1)
            if round_ == 4:
                redis_server.restart_empty()
            if round_ == 8:
                redis.Redis.from_url(redis_server.url).flushall()
        deadline = time.monotonic() + 45
        while await _unhandled(container, ids) != dict.fromkeys(CONSUMERS, 0) or await _unsettled(container):
            assert time.monotonic() < deadline, (await _unhandled(container, ids), await _unsettled(container))
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(workers, timeout=15)
    for name, recorder in recorders.items():
        assert set(recorder.effects) == set(ids), name
        assert max(recorder.effects.values()) == 1, name  # re-published, never handled twice
