"""Event consumers: subscriptions and the inbox-protected delivery that every event transport shares."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from bazaar.db.driver import Prepared
from bazaar.db.outbox import InboxEntry, OutboxEvent
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DependencyUnavailable

Handler = Callable[[UnitOfWork, dict[str, Any]], Awaitable[None]]
BatchHandler = Callable[[UnitOfWork, list[dict[str, Any]]], Awaitable[None]]
UowFactory = Callable[[], UnitOfWork]
Scope = Literal["shared", "per_node"]
SHARED: Scope = "shared"  # one handler in the whole cluster (notifications, figures, email ...)
PER_NODE: Scope = "per_node"  # every node handles every event (its search replica, its local caches)
NODE_SEPARATOR = "@"


def consumer_name(name: str, scope: Scope, node_id: str) -> str:
    """The identity of a subscription in the inbox and as a consumer group: the name itself when shared,
    `name@node` when per node. The one place a group name is made (no consumer invents its own)."""
    return name if scope == SHARED else f"{name}{NODE_SEPARATOR}{node_id}"


def node_of(consumer: str) -> str | None:
    """The node a per-node consumer name belongs to (None for a shared one)."""
    _, sep, node = consumer.partition(NODE_SEPARATOR)
    return node if sep else None


@dataclass
class Subscription:
    """A consumer (its name is its identity in the inbox and its consumer group) and the topics it wants.

    `consumer` is the full name (see `consumer_name`); `name` the subscription's own, the same on every node.
    """

    consumer: str
    topics: tuple[str, ...]  # exact topics or prefixes ending in "."
    handler: Handler
    # Optional: handles a whole batch at once (e.g. adding up counters), with the same effect as `handler`
    # on each event in order. Used when a batch is delivered in one go; `handler` when event by event.
    batch_handler: BatchHandler | None = None
    scope: Scope = SHARED
    name: str = ""
    # Batches of this consumer never run at once (a PostgreSQL advisory lock per consumer, taken first): for
    # consumers whose batches update shared rows (per-seller counters, balances) in event order, where two
    # partitions' batches would otherwise lock the same rows in opposite orders and deadlock.
    serial: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.consumer.partition(NODE_SEPARATOR)[0]

    def consumer_on(self, node_id: str) -> str:
        """This subscription's consumer name on another node (itself when shared)."""
        return consumer_name(self.name, self.scope, node_id)

    def wants(self, topic: str) -> bool:
        return any(topic == t or (t.endswith(".") and topic.startswith(t)) for t in self.topics)

    def topic_groups(self) -> list[str]:
        return sorted({topic_group(t) for t in self.topics})


def owing_consumers(subscriptions: Sequence[Subscription], topic: str, live_nodes: Collection[str]) -> set[str]:
    """Every consumer in the cluster that must handle an event of `topic` before it is settled: each shared
    subscription once, each per-node subscription once per live node."""
    owed: set[str] = set()
    for sub in subscriptions:
        if sub.wants(topic):
            owed.add(sub.consumer)
            if sub.scope == PER_NODE:
                owed.update(sub.consumer_on(node) for node in live_nodes)
    return owed


def topic_group(topic: str) -> str:
    """The context a topic belongs to (`catalog.product_updated.v1` -> `catalog`): one stream family each."""
    return topic.split(".", 1)[0]


def partition_of(key: str, partitions: int) -> int:
    """A stable partition for an aggregate id, the same in every process (unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % partitions


def backoff_seconds(failed_attempts: int, *, base: float, cap: float) -> float:
    """How long to wait after the n-th failed attempt before the next one: base, 2*base, 4*base … cap."""
    if failed_attempts <= 0:
        return 0.0
    return float(min(cap, base * 2 ** min(failed_attempts - 1, 30)))


def event_from_row(row: OutboxEvent) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "topic": row.topic,
        "key": row.key,
        "payload": row.payload,
        "created_at": row.created_at.isoformat(),
    }


def is_outage(exc: BaseException) -> bool:
    """The database or a dependency is unreachable: not the event's fault, so it must not use up the
    event's attempts (or an outage would dead-letter everything); the round stops and is tried again."""
    return isinstance(exc, OperationalError | InterfaceError | DependencyUnavailable | ConnectionError | TimeoutError)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


async def _one_at_a_time(uow: UnitOfWork, subscription: Subscription) -> None:
    if subscription.serial and uow.is_postgres:
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": subscription.consumer})


async def deliver(uow_factory: UowFactory, subscription: Subscription, event: dict[str, Any]) -> bool:
    """Run one consumer on one event, at most once per (consumer, event id): the side effect commits
    together with the inbox row. Answers False when the event had already been handled."""
    async with uow_factory() as uow:
        await _one_at_a_time(uow, subscription)
        seen = await uow.session.get(InboxEntry, (subscription.consumer, event["event_id"]))
        if seen is not None:
            return False
        await subscription.handler(uow, event)
        uow.session.add(InboxEntry(consumer=subscription.consumer, event_id=event["event_id"]))
        try:
            await uow.commit()
        except IntegrityError:
            await uow.rollback()
            # Another worker handled it first (its inbox row won) and our side effect rolled back;
            # otherwise the handler itself broke a constraint, which is a failure to retry.
            if await uow.session.get(InboxEntry, (subscription.consumer, event["event_id"])) is None:
                raise
            return False
    return True


_INBOX = cast(Table, InboxEntry.__table__)
# Built once: every batch of every consumer runs them.
_HANDLED = Prepared.listing(
    lambda one_of: select(_INBOX.c.event_id).where(
        _INBOX.c.consumer == bindparam("consumer"), one_of(_INBOX.c.event_id, "ids")
    )
)


async def _handled_already(uow: UnitOfWork, consumer: str, ids: list[str]) -> set[str]:
    return set((await uow.fetch(_HANDLED, {"consumer": consumer, "ids": ids})).scalars())


async def _already_handled(uow: UnitOfWork, consumer: str, event_id: str) -> bool:
    return await uow.session.get(InboxEntry, (consumer, event_id)) is not None


async def _deliver_all_at_once(
    uow_factory: UowFactory, subscription: Subscription, events: Sequence[dict[str, Any]]
) -> dict[str, Exception | None]:
    """The common case first: every event of the batch handled in one transaction without a savepoint each
    (a savepoint costs two round trips per event). Any failure rolls all of it back and raises."""
    consumer = subscription.consumer
    async with uow_factory() as uow:
        await _one_at_a_time(uow, subscription)
        ids = [e["event_id"] for e in events]
        handled = await _handled_already(uow, consumer, ids)
        fresh: list[dict[str, Any]] = []
        for event in events:
            if event["event_id"] not in handled:
                fresh.append(event)
                handled.add(event["event_id"])
        if subscription.batch_handler is not None:
            await subscription.batch_handler(uow, fresh)
        else:
            for event in fresh:
                await subscription.handler(uow, event)
        now = utcnow()
        for event in fresh:  # written by the commit, in one statement with the handlers' own rows of their tables
            uow.insert(_INBOX, {"consumer": consumer, "event_id": event["event_id"], "handled_at": now})
        await uow.commit()
    return {event_id: None for event_id in ids}


async def deliver_many(
    uow_factory: UowFactory, subscription: Subscription, events: Sequence[dict[str, Any]], *, stop_at_failure: bool
) -> dict[str, Exception | None]:
    """Run one consumer on a batch of events in one transaction, so a single commit (one disk flush) covers
    the batch. First all at once; if any event fails, again with each event in its own savepoint with its
    inbox row, so the failing event changes nothing and the others go through. (Effects outside the
    database, such as cache deletions, may then run twice: consumers keep them idempotent.)

    Answers, per event attempted, None when handled (now or before) or the exception it failed with.
    After a failure, later events with the same key are not attempted (none at all if `stop_at_failure`),
    and are missing from the answer. An outage, or a failed commit, raises: nothing of the batch happened.
    """
    results: dict[str, Exception | None] = {}
    if not events:
        return results
    try:
        return await _deliver_all_at_once(uow_factory, subscription, events)
    except Exception as exc:
        if is_outage(exc):
            raise
    # Something in the batch failed, and the whole attempt rolled back: now event by event.
    consumer = subscription.consumer
    failed_keys: set[str] = set()
    async with uow_factory() as uow:
        await _one_at_a_time(uow, subscription)
        ids = [e["event_id"] for e in events]
        handled = await _handled_already(uow, consumer, ids)
        for event in events:
            event_id = event["event_id"]
            if event["key"] in failed_keys:
                continue
            if event_id in handled:
                results[event_id] = None
                continue
            try:
                async with uow.savepoint():
                    await subscription.handler(uow, event)
                    uow.session.add(InboxEntry(consumer=consumer, event_id=event_id))
            except Exception as exc:
                if is_outage(exc):
                    raise
                # A unique violation on the inbox row: another worker handled it first (our savepoint is gone).
                if isinstance(exc, IntegrityError) and await _already_handled(uow, consumer, event_id):
                    results[event_id] = None
                    continue
                results[event_id] = exc
                failed_keys.add(event["key"])
                if stop_at_failure:
                    break
            else:
                results[event_id] = None
                handled.add(event_id)
        await uow.commit()
    return results
