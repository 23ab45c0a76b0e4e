"""Embedded event stream: the outbox table is the stream, delivered in-process to every subscribed consumer.

Per-consumer progress is the inbox (handled) and `event_failures` (retrying or dead). An outbox row is
marked published once every consumer that wants it has handled it or given up on it: each shared
subscription, and each per-node subscription on every live node (see bazaar.db.nodes). A failing consumer
holds back only its own later events for the same key; other consumers and keys carry on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import delete, exists, func, or_, select, text, update
from sqlalchemy.sql.elements import ColumnElement

from bazaar.db.consumers import (
    Subscription,
    UowFactory,
    backoff_seconds,
    deliver_many,
    describe,
    event_from_row,
    owing_consumers,
)
from bazaar.db.outbox import EventFailure, InboxEntry, OutboxEvent
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ports import ConsumerLag, DeadLetter, EventStreamStats

log = logging.getLogger("bazaar.events")

# One embedded consumer at a time on PostgreSQL, so events are delivered in outbox order.
_CONSUMER_LOCK = 0x62617A6163
STREAM_NAME = "outbox"


class OutboxEventStream:
    def __init__(
        self,
        *,
        uow_factory: UowFactory,
        subscriptions: Sequence[Subscription],
        max_deliveries: int = 5,
        retry_base_seconds: float = 0.5,
        retry_max_seconds: float = 60,
        batch_size: int = 100,
        live_nodes: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._live_nodes = live_nodes
        self._subscriptions = subscriptions
        self.max_deliveries = max_deliveries
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.batch_size = batch_size

    async def relay(self) -> int:
        return 0  # committed outbox rows are already on this stream

    async def join(self) -> None:
        return None  # a node's per-node consumers read the table from where their inbox says

    async def consume(self) -> int:
        if not await self._anything_unpublished():
            return 0
        async with self._exclusive() as held:
            if not held:
                return 0
            settled, touched = 0, set()
            for sub in list(self._subscriptions):
                handled = await self._consume_for(sub)
                settled += len(handled)
                touched |= handled
            return settled + await self._publish_settled(touched)

    async def _anything_unpublished(self) -> bool:
        """One indexed look before the per-consumer reads: an idle worker polls this twice a second.

        Every event some consumer still owes (new, or waiting to be retried) is unpublished, so when
        none is, there is nothing to deliver and nothing to mark published.
        """
        async with self._uow() as uow:
            head = select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None)).limit(1)
            return (await uow.session.execute(head)).first() is not None

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[bool]:
        """On PostgreSQL, a transaction-scoped advisory lock held while delivering; SQLite has one writer."""
        async with self._uow() as uow:
            if not uow.is_postgres:
                yield True
                return
            lock = text("SELECT pg_try_advisory_xact_lock(:k)")
            yield bool((await uow.session.execute(lock, {"k": _CONSUMER_LOCK})).scalar())

    async def _consume_for(self, sub: Subscription) -> set[int]:
        """Deliver the oldest events this consumer still owes, in order; answers the outbox ids it settled.
        Each consumer reads its own window, so one stuck on retries never holds up another."""
        async with self._uow() as uow:
            query = select(OutboxEvent).where(
                OutboxEvent.published_at.is_(None),
                _topic_filter(sub.topics),
                ~_handled(sub.consumer),
                ~_dead(sub.consumer),
            )
            rows = list((await uow.session.execute(query.order_by(OutboxEvent.id).limit(self.batch_size))).scalars())
            failed = select(EventFailure).where(
                EventFailure.consumer == sub.consumer, EventFailure.event_id.in_([r.event_id for r in rows])
            )
            failures = {f.event_id: f for f in (await uow.session.execute(failed)).scalars()} if rows else {}
            uow.session.expunge_all()  # plain values from here on: leaving the unit of work rolls back
        # The read transaction is closed before any delivery: on SQLite it would hold the write lock.
        held_back: set[str] = set()  # keys with an earlier event waiting to be retried: later ones wait too
        ready, now = [], utcnow()
        for row in rows:
            failure = failures.get(row.event_id)
            if row.key in held_back or (failure is not None and failure.retry_at > now):
                held_back.add(row.key)
            else:
                ready.append(row)
        results = await deliver_many(self._uow, sub, [event_from_row(r) for r in ready], stop_at_failure=False)
        settled = {r.id for r in ready if r.event_id in results and results[r.event_id] is None}
        for row in ready:
            error = results.get(row.event_id)
            if error is not None:
                log.warning("consumer %s failed on %s %s: %s", sub.consumer, row.topic, row.event_id, describe(error))
                if await self._record_failure(sub, row, error):
                    settled.add(row.id)
        retried = [r.event_id for r in ready if r.id in settled and r.event_id in failures]
        if retried:  # succeeded at last: forget the failures (dead-lettered ones stay)
            async with self._uow() as uow:
                forget = delete(EventFailure).where(EventFailure.consumer == sub.consumer)
                await uow.session.execute(
                    forget.where(EventFailure.event_id.in_(retried), EventFailure.dead_at.is_(None))
                )
                await uow.commit()
        return settled

    async def _publish_settled(self, touched: set[int]) -> int:
        """Mark published the events every interested consumer has handled or given up on."""
        async with self._uow() as uow:
            head = select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None)).order_by(OutboxEvent.id)
            candidates = set((await uow.session.execute(head.limit(self.batch_size))).scalars()) | touched
            if not candidates:
                return 0
            rows = (
                await uow.session.execute(
                    select(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.topic).where(
                        OutboxEvent.id.in_(candidates), OutboxEvent.published_at.is_(None)
                    )
                )
            ).all()
            event_ids = [r.event_id for r in rows]
            inbox = select(InboxEntry.consumer, InboxEntry.event_id).where(InboxEntry.event_id.in_(event_ids))
            dead = select(EventFailure.consumer, EventFailure.event_id).where(
                EventFailure.event_id.in_(event_ids), EventFailure.dead_at.is_not(None)
            )
            done = {(c, e) for c, e in await uow.session.execute(inbox)} | {
                (c, e) for c, e in await uow.session.execute(dead)
            }
            live = await self._live_nodes() if self._live_nodes is not None else set()
            complete = [
                r.id
                for r in rows
                if all(
                    (consumer, r.event_id) in done for consumer in owing_consumers(self._subscriptions, r.topic, live)
                )
            ]
            if complete:
                now = utcnow()  # in-process, delivered and settled are one step: the outbox is the stream
                await uow.session.execute(
                    update(OutboxEvent).where(OutboxEvent.id.in_(complete)).values(published_at=now, settled_at=now)
                )
                await uow.commit()
            return len(complete)

    async def _record_failure(self, sub: Subscription, row: OutboxEvent, exc: Exception) -> bool:
        async with self._uow() as uow:
            failure = await uow.session.get(EventFailure, (sub.consumer, row.event_id))
            if failure is None:
                failure = EventFailure(
                    consumer=sub.consumer, event_id=row.event_id, topic=row.topic, key=row.key, payload=row.payload
                )
                failure.attempts = 0
                uow.session.add(failure)
            failure.attempts += 1
            failure.last_error = describe(exc)
            wait = backoff_seconds(failure.attempts, base=self.retry_base_seconds, cap=self.retry_max_seconds)
            failure.retry_at = utcnow() + timedelta(seconds=wait)
            if failure.attempts >= self.max_deliveries:
                failure.dead_at = utcnow()
                log.error("consumer %s gave up on %s %s", sub.consumer, row.topic, row.event_id)
            await uow.commit()
            return failure.dead_at is not None

    async def stats(self) -> EventStreamStats:
        async with self._uow() as uow:
            session = uow.session
            backlog = await session.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None)))
            dead = await session.scalar(select(func.count()).where(EventFailure.dead_at.is_not(None)))
            lags = []
            for sub in self._subscriptions:
                retrying = await session.scalar(
                    select(func.count()).where(EventFailure.consumer == sub.consumer, EventFailure.dead_at.is_(None))
                )
                lag = await session.scalar(
                    select(func.count()).where(
                        OutboxEvent.published_at.is_(None),
                        _topic_filter(sub.topics),
                        ~_handled(sub.consumer),
                        ~_dead(sub.consumer),
                    )
                )
                lags.append(ConsumerLag(STREAM_NAME, sub.consumer, pending=int(retrying or 0), lag=int(lag or 0)))
        return EventStreamStats(backlog=int(backlog or 0), dead_letters=int(dead or 0), consumers=tuple(lags))

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        async with self._uow() as uow:
            query = select(EventFailure).where(EventFailure.dead_at.is_not(None))
            rows = (await uow.session.execute(query.order_by(EventFailure.dead_at.desc()).limit(limit))).scalars()
            return [
                DeadLetter(f.consumer, f.event_id, f.topic, f.key, f.payload, f.last_error, f.attempts) for f in rows
            ]

    async def close(self) -> None:
        return None


def _handled(consumer: str) -> ColumnElement[bool]:
    return exists().where(InboxEntry.consumer == consumer, InboxEntry.event_id == OutboxEvent.event_id)


def _dead(consumer: str) -> ColumnElement[bool]:
    return exists().where(
        EventFailure.consumer == consumer,
        EventFailure.event_id == OutboxEvent.event_id,
        EventFailure.dead_at.is_not(None),
    )


def _topic_filter(topics: Sequence[str]) -> ColumnElement[bool]:
    topic = OutboxEvent.topic
    return or_(*(topic.startswith(t, autoescape=True) if t.endswith(".") else topic == t for t in topics))
