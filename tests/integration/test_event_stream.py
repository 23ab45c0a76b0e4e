"""The event stream, on both transports (the outbox in-process on SQLite, Redis Streams on the PostgreSQL run):
each event reaches each consumer once, redelivery changes nothing, failures retry with backoff and end
in the dead letters, a crash mid-batch loses nothing, and several workers at once still deliver once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import func, select, update

from bazaar.accounts.models import User
from bazaar.bootstrap import SHARED, Container, build_container
from bazaar.db.consumers import backoff_seconds, partition_of
from bazaar.db.outbox import OutboxEvent
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.events import Event
from bazaar.notifications.models import Notification
from bazaar.settings import Settings
from bazaar.workers import outbox_relay
from tests.conftest import truncate_all
from tests.helpers import drain_events

FAST_RETRIES = {"event_retry_base_seconds": 0.05, "event_retry_max_seconds": 0.2, "event_max_deliveries": 3}


@dataclass(frozen=True)
class ThingChanged(Event):
    topic: ClassVar[str] = "catalog.thing_changed.v1"
    key_field: ClassVar[str] = "thing_id"
    thing_id: str
    seq: int


@dataclass(frozen=True)
class OrderNoted(Event):
    topic: ClassVar[str] = "orders.order_noted.v1"
    key_field: ClassVar[str] = "order_id"
    order_id: str
    seq: int


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


class Recorder:
    """A consumer whose side effect is a notification row (rolled back with its transaction), so
    duplicates would show as extra rows; it also remembers every call and the order of success."""

    def __init__(self, name: str, user_id: str, *, fail: Callable[[dict[str, Any], int], bool] | None = None) -> None:
        self.name = name
        self.user_id = user_id
        self.fail = fail or (lambda event, attempt: False)
        self.calls: Counter[str] = Counter()
        self.order: dict[str, list[int]] = defaultdict(list)

    async def __call__(self, uow: UnitOfWork, event: dict[str, Any]) -> None:
        self.calls[event["event_id"]] += 1
        if self.fail(event, self.calls[event["event_id"]]):
            raise RuntimeError(f"{self.name} cannot handle {event['event_id']} yet")
        uow.session.add(Notification(user_id=self.user_id, kind=self.name, subject=event["event_id"], body=""))
        uow.after_commit(self._committed(event))

    def _committed(self, event: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        async def record() -> None:
            self.order[event["key"]].append(event["payload"]["seq"])

        return record


async def make_container(settings: Settings, *, clean: bool) -> Container:
    container = build_container(settings)
    if clean and not settings.is_sqlite:
        await truncate_all(container)
    return container


@pytest.fixture
async def events(settings_factory: Any) -> AsyncIterator[Container]:
    container = await make_container(settings_factory(**FAST_RETRIES), clean=True)
    try:
        yield container
    finally:
        await container.close()


async def new_user_id(container: Container) -> str:
    async with container.uow() as uow:
        user = User(email=f"{time.monotonic_ns()}@example.com", name="Consumer", password_hash="x")
        uow.session.add(user)
        await uow.commit()
        return user.id


async def emit(container: Container, *events: Event) -> list[str]:
    async with container.uow() as uow:
        ids = [uow.emit(e) for e in events]
        await uow.commit()
    return ids


def things(n: int, keys: int = 5) -> list[Event]:
    return [ThingChanged(thing_id=f"thing-{i % keys}", seq=i) for i in range(n)]


async def rows_per_event(container: Container, consumer: str) -> Counter[str]:
    async with container.uow() as uow:
        query = select(Notification.subject, func.count()).where(Notification.kind == consumer)
        result = await uow.session.execute(query.group_by(Notification.subject))
        return Counter({subject: int(n) for subject, n in result})


async def settle(container: Container, done: Callable[[], Awaitable[bool]], *, within: float = 15) -> None:
    """Run the workers' rounds until `done`, sleeping through retry backoffs."""
    deadline = time.monotonic() + within
    while True:
        await drain_events(container)
        if await done():
            return
        assert time.monotonic() < deadline, "events did not settle in time"
        await asyncio.sleep(0.05)


def test_partitions_are_stable_and_backoff_doubles_to_a_cap() -> None:
    assert partition_of("offer-42", 4) == partition_of("offer-42", 4)
    assert {partition_of(f"k{i}", 4) for i in range(100)} == {0, 1, 2, 3}
    assert [backoff_seconds(n, base=0.5, cap=3) for n in range(5)] == [0, 0.5, 1, 2, 3]


async def test_each_event_reaches_each_interested_consumer_once(events: Container) -> None:
    user = await new_user_id(events)
    catalog, orders = Recorder("test-catalog", user), Recorder("test-orders", user)
    events.subscribe("test-catalog", ("catalog.",), catalog, scope=SHARED)
    events.subscribe("test-orders", (OrderNoted.topic,), orders, scope=SHARED)
    thing_ids = await emit(events, *things(30))
    order_ids = await emit(events, *(OrderNoted(order_id=f"order-{i % 3}", seq=i) for i in range(12)))

    assert await drain_events(events) > 0
    assert await rows_per_event(events, "test-catalog") == Counter(dict.fromkeys(thing_ids, 1))
    assert await rows_per_event(events, "test-orders") == Counter(dict.fromkeys(order_ids, 1))
    for key, seqs in catalog.order.items():
        assert seqs == sorted(seqs), f"events of {key} were handled out of order"
    stats = await events.events.stats()
    assert stats.backlog == 0 and stats.dead_letters == 0
    assert all(c.pending == 0 and not c.lag for c in stats.consumers)


async def test_duplicate_delivery_of_every_event_changes_nothing(events: Container) -> None:
    user = await new_user_id(events)
    recorder = Recorder("test-dedupe", user)
    events.subscribe("test-dedupe", ("catalog.",), recorder, scope=SHARED)
    ids = await emit(events, *things(20))
    await drain_events(events)

    # Publish every event again, as a relay that crashed before recording its progress would.
    async with events.uow() as uow:
        await uow.session.execute(update(OutboxEvent).values(published_at=None))
        await uow.commit()
    await drain_events(events)

    assert await rows_per_event(events, "test-dedupe") == Counter(dict.fromkeys(ids, 1))
    assert (await events.events.stats()).backlog == 0


async def test_a_failing_consumer_is_retried_and_does_not_hold_up_others(settings_factory: Any) -> None:
    # Batches of 4 while 12 events wait for the flaky consumer: the steady one must still get all 12.
    events = await make_container(settings_factory(**FAST_RETRIES, event_batch_size=4), clean=True)
    try:
        user = await new_user_id(events)
        flaky = Recorder("test-flaky", user, fail=lambda event, attempt: attempt <= 2)
        steady = Recorder("test-steady", user)
        events.subscribe("test-flaky", ("catalog.",), flaky, scope=SHARED)
        events.subscribe("test-steady", ("catalog.",), steady, scope=SHARED)
        ids = await emit(events, *things(12, keys=3))

        await drain_events(events)
        assert await rows_per_event(events, "test-steady") == Counter(dict.fromkeys(ids, 1))

        async def flaky_done() -> bool:
            return await rows_per_event(events, "test-flaky") == Counter(dict.fromkeys(ids, 1))

        await settle(events, flaky_done)
        for key, seqs in flaky.order.items():
            assert seqs == sorted(seqs), f"retries reordered the events of {key}"
        # Failed twice, succeeded on the third delivery; a batch's all-at-once first try that rolled back
        # (because another event of it failed) is one more call, never one more delivery.
        assert set(flaky.calls.values()) <= {3, 4} and 3 in flaky.calls.values()
        stats = await events.events.stats()
        assert stats.dead_letters == 0 and stats.backlog == 0
    finally:
        await events.close()


async def test_a_consumer_that_always_fails_ends_in_the_dead_letters(events: Container) -> None:
    user = await new_user_id(events)
    broken = Recorder("test-broken", user, fail=lambda event, attempt: event["payload"]["seq"] == 1)
    steady = Recorder("test-steady", user)
    events.subscribe("test-broken", ("catalog.",), broken, scope=SHARED)
    events.subscribe("test-steady", ("catalog.",), steady, scope=SHARED)
    ids = await emit(events, *things(4, keys=2))

    async def given_up() -> bool:
        return (await events.events.stats()).dead_letters == 1 and len(await rows_per_event(events, "test-broken")) == 3

    await settle(events, given_up)
    calls = broken.calls[ids[1]]  # 3 deliveries (event_max_deliveries), plus any rolled-back all-at-once tries
    assert 3 <= calls <= 6
    [letter] = await events.events.dead_letters()
    assert (letter.consumer, letter.event_id, letter.topic) == ("test-broken", ids[1], ThingChanged.topic)
    assert letter.deliveries == 3 and "cannot handle" in letter.error and letter.payload["seq"] == 1
    assert await rows_per_event(events, "test-broken") == Counter({i: 1 for i in ids if i != ids[1]})
    assert await rows_per_event(events, "test-steady") == Counter(dict.fromkeys(ids, 1))
    await asyncio.sleep(0.3)
    await drain_events(events)
    assert broken.calls[ids[1]] == calls, "a dead letter is not retried"
    assert (await events.events.stats()).backlog == 0


async def test_a_failing_event_leaves_no_trace_while_its_batch_commits(events: Container) -> None:
    user = await new_user_id(events)
    fired: list[int] = []

    async def half_done_then_fails(uow: UnitOfWork, event: dict[str, Any]) -> None:
        seq = event["payload"]["seq"]
        uow.session.add(Notification(user_id=user, kind="test-partial", subject=event["event_id"], body=""))

        async def after() -> None:
            fired.append(seq)

        uow.after_commit(after)
        if seq == 2:
            raise RuntimeError("fails after writing")

    events.subscribe("test-partial", ("catalog.",), half_done_then_fails, scope=SHARED)
    # One key each; thing-2 has a Redis partition of its own, so nothing else waits behind its retries.
    assert partition_of("thing-2", 4) not in {partition_of(f"thing-{i}", 4) for i in (0, 1, 3, 4)}
    ids = await emit(events, *(ThingChanged(thing_id=f"thing-{i}", seq=i) for i in range(5)))
    await drain_events(events)

    assert set(await rows_per_event(events, "test-partial")) == {ids[i] for i in (0, 1, 3, 4)}
    assert sorted(fired) == [0, 1, 3, 4]


async def test_an_outage_does_not_use_up_attempts(events: Container) -> None:
    from bazaar.kernel.errors import DependencyUnavailable

    user = await new_user_id(events)
    outage = {"calls_left": 8}  # more failing calls than event_max_deliveries (3)

    def down(event: dict[str, Any], attempt: int) -> bool:
        if outage["calls_left"] > 0:
            outage["calls_left"] -= 1
            raise DependencyUnavailable("the search index is not reachable", service="search")
        return False

    recorder = Recorder("test-outage", user, fail=down)
    events.subscribe("test-outage", ("catalog.",), recorder, scope=SHARED)
    ids = await emit(events, *things(6, keys=2))

    deadline = time.monotonic() + 15
    while await rows_per_event(events, "test-outage") != Counter(dict.fromkeys(ids, 1)):
        assert time.monotonic() < deadline, "events were not delivered after the outage"
        with contextlib.suppress(DependencyUnavailable):  # the worker logs it and waits a poll interval
            await drain_events(events)
        await asyncio.sleep(0.05)
    assert (await events.events.stats()).dead_letters == 0


async def test_a_consumer_crashing_mid_batch_loses_nothing(events: Container) -> None:
    user = await new_user_id(events)
    crashed: list[str] = []

    def crash_once_on_the_sixth(event: dict[str, Any], attempt: int) -> bool:
        if event["payload"]["seq"] == 5 and not crashed:
            crashed.append(event["event_id"])
            raise Crash()
        return False

    recorder = Recorder("test-crash", user, fail=crash_once_on_the_sixth)
    events.subscribe("test-crash", ("catalog.",), recorder, scope=SHARED)
    ids = await emit(events, *things(10, keys=1))  # one key: one partition, one batch

    with pytest.raises(Crash):
        await drain_events(events)
    # A batch commits as a whole: what the crash interrupted is delivered again, in order, once.
    assert len(await rows_per_event(events, "test-crash")) < len(ids)

    async def all_handled() -> bool:
        return await rows_per_event(events, "test-crash") == Counter(dict.fromkeys(ids, 1))

    await settle(events, all_handled)
    assert recorder.order["thing-0"] == list(range(10))


async def test_two_workers_at_once_deliver_each_event_once(settings_factory: Any, pg_only: None) -> None:
    settings = settings_factory(**FAST_RETRIES, event_batch_size=20)
    first = await make_container(settings, clean=True)
    second = await make_container(settings.model_copy(), clean=False)
    try:
        user = await new_user_id(first)
        recorders = [Recorder("test-concurrent", user), Recorder("test-concurrent", user)]
        for container, recorder in zip((first, second), recorders, strict=True):
            container.subscribe("test-concurrent", ("catalog.", "orders."), recorder, scope=SHARED)
        ids = await emit(first, *things(150, keys=7))
        ids += await emit(second, *(OrderNoted(order_id=f"order-{i % 4}", seq=i) for i in range(50)))

        async def work(container: Container) -> None:
            deadline = time.monotonic() + 30
            while len(await rows_per_event(container, "test-concurrent")) < len(ids):
                assert time.monotonic() < deadline, "the workers did not deliver everything"
                await outbox_relay.run_once(container)
                await outbox_relay.consume_once(container)
                await asyncio.sleep(0)

        await asyncio.gather(work(first), work(second))
        assert await rows_per_event(first, "test-concurrent") == Counter(dict.fromkeys(ids, 1))
        handled_by = [sum(r.calls.values()) for r in recorders]
        assert sum(handled_by) >= len(ids)
    finally:
        await first.close()
        await second.close()


async def test_metrics_show_backlog_and_consumer_lag(settings_factory: Any) -> None:
    from bazaar.web.app import create_app

    container = await make_container(settings_factory(), clean=True)
    try:
        user = await new_user_id(container)
        container.subscribe("test-lagging", ("catalog.",), Recorder("test-lagging", user), scope=SHARED)
        await emit(container, *things(6, keys=1))
        transport = httpx.ASGITransport(app=create_app(container=container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            before = (await client.get("/metrics")).text
            await outbox_relay.run_once(container)  # published (Redis) but not consumed yet
            published = (await client.get("/metrics")).text
            await drain_events(container)
            after = (await client.get("/metrics")).text

        if container.settings.redis_url:
            assert "bazaar_outbox_backlog 6.0" in before
            assert "bazaar_outbox_backlog 0.0" in published
            stream = f"{container.settings.redis_prefix}events:catalog:{partition_of('thing-0', 4)}"
            assert f'bazaar_event_consumer_lag{{group="test-lagging",stream="{stream}"}} 6.0' in published
            assert f'bazaar_event_consumer_lag{{group="test-lagging",stream="{stream}"}} 0.0' in after
            assert f'bazaar_event_consumer_pending{{group="test-lagging",stream="{stream}"}} 0.0' in after
        else:
            assert 'bazaar_event_consumer_lag{group="test-lagging",stream="outbox"} 6.0' in published
            assert 'bazaar_event_consumer_lag{group="test-lagging",stream="outbox"} 0.0' in after
        assert "bazaar_outbox_backlog 0.0" in after
        assert "bazaar_event_dead_letters 0.0" in after
    finally:
        await container.close()


async def test_redis_streams_are_trimmed_only_behind_every_consumer(events: Container) -> None:
    from bazaar.adapters.redis_stream import RedisEventStream

    if not isinstance(events.events, RedisEventStream):
        pytest.skip("about Redis Streams")
    stream_events = events.events
    user = await new_user_id(events)
    events.subscribe("test-fast", ("catalog.",), Recorder("test-fast", user), scope=SHARED)
    blocked = [True]
    events.subscribe(
        "test-slow", ("catalog.",), Recorder("test-slow", user, fail=lambda event, attempt: blocked[0]), scope=SHARED
    )
    await emit(events, *things(250, keys=1))
    stream = stream_events.stream_for(ThingChanged.topic, "thing-0")

    while await outbox_relay.run_once(events):  # publishes, and trims once: nobody has read anything yet
        pass
    assert await stream_events.client.xlen(stream) == 250
    while await outbox_relay.consume_once(events):  # test-fast acks all; test-slow fails on the first and waits
        pass
    stream_events._next_trim = 0
    await outbox_relay.run_once(events)
    assert await stream_events.client.xlen(stream) == 250, "entries test-slow has not acknowledged were trimmed"

    blocked[0] = False

    async def slow_caught_up() -> bool:
        handled = len(await rows_per_event(events, "test-slow"))
        return handled + (await events.events.stats()).dead_letters == 250

    await settle(events, slow_caught_up)
    stream_events._next_trim = 0
    await outbox_relay.run_once(events)
    assert await stream_events.client.xlen(stream) < 250


async def test_the_background_workers_deliver_soon_after_commit(events: Container) -> None:
    from bazaar.workers.runner import run_all

    user = await new_user_id(events)
    events.subscribe("test-live", ("catalog.",), Recorder("test-live", user), scope=SHARED)
    stop = asyncio.Event()
    workers = asyncio.create_task(run_all(events, stop))
    try:
        ids = await emit(events, *things(5))
        deadline = time.monotonic() + 10
        while await rows_per_event(events, "test-live") != Counter(dict.fromkeys(ids, 1)):
            assert time.monotonic() < deadline, "the workers did not deliver the events"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(workers, timeout=10)


async def test_a_batch_costs_its_consumer_three_round_trips_to_redis_and_leaves_no_lease(events: Container) -> None:
    """Redis Streams: a partition's batch takes its lease with the look at what is pending, reads, and acknowledges
    with the lease's release (three round trips, where five were), and no lease is left behind."""
    from redis.exceptions import ResponseError

    from bazaar.adapters.redis_stream import RedisEventStream

    stream = events.events
    if not isinstance(stream, RedisEventStream):
        pytest.skip("the outbox in-process has no Redis round trips")
    user = await new_user_id(events)
    recorder = Recorder("test-trips", user)
    events.subscribe("test-trips", ("catalog.",), recorder, scope=SHARED)
    await emit(events, *things(6, keys=3))
    await stream.relay()
    client = stream.client
    trips: list[str] = []
    execute_command, pipeline = client.execute_command, client.pipeline

    async def one(*args: Any, **options: Any) -> Any:
        trips.append(str(args[0]).upper())
        return await execute_command(*args, **options)

    def counted_pipeline(*args: Any, **options: Any) -> Any:
        pipe = pipeline(*args, **options)
        execute = pipe.execute

        async def once(*a: Any, **kw: Any) -> Any:
            trips.append("PIPELINE")
            return await execute(*a, **kw)

        pipe.execute = once
        return pipe

    client.execute_command, client.pipeline = one, counted_pipeline
    try:
        assert await stream.consume() > 0
    finally:
        client.execute_command, client.pipeline = execute_command, pipeline
    batches = trips.count("XREADGROUP")
    assert batches > 0 and len(trips) == 1 + 3 * batches, trips  # the look at every partition, then three a batch
    assert sum(recorder.calls.values()) == 6  # every event delivered once
    assert not await client.keys(f"{stream.prefix}events:lease:*")

    # A look at what is pending that fails (its group gone) still releases the lease it was taken with.
    sub = next(s for s in stream._subscriptions if s.consumer == "test-trips")
    partition = [p for p in stream.streams_of(sub) if await client.exists(p)][0]
    await client.xgroup_destroy(partition, "test-trips")
    with pytest.raises(ResponseError, match="NOGROUP"):
        await stream._consume_partition(sub, partition)
    assert not await client.keys(f"{stream.prefix}events:lease:*")
