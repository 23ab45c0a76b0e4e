"""Outbox relay (embedded event stream): hands committed outbox events to every subscribed consumer.

Each consumer handles an event in its own transaction together with an inbox row, so a
redelivered event is skipped, and a consumer that fails is retried without losing the event.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bazaar.bootstrap import Container, Subscription
from bazaar.db.outbox import InboxEntry, OutboxEvent
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow

log = logging.getLogger("bazaar.workers.outbox")
MAX_ATTEMPTS = 10
BATCH = 200


async def deliver(
    container: Container, subscription: Subscription, event: dict[str, Any], *, within: UnitOfWork | None = None
) -> None:
    """Run one consumer on one event, exactly once per (consumer, event id)."""
    if within is not None:
        # SQLite has one writer: the relay's own transaction already holds it, so a second unit of
        # work would wait on it forever. The consumer runs in a savepoint of the relay's transaction.
        async with within.session.begin_nested():
            if await within.session.get(InboxEntry, (subscription.consumer, event["event_id"])) is None:
                await subscription.handler(within, event)
                within.session.add(InboxEntry(consumer=subscription.consumer, event_id=event["event_id"]))
        return
    async with container.uow() as uow:
        seen = await uow.session.get(InboxEntry, (subscription.consumer, event["event_id"]))
        if seen is not None:
            return
        await subscription.handler(uow, event)
        uow.session.add(InboxEntry(consumer=subscription.consumer, event_id=event["event_id"]))
        try:
            await uow.commit()
        except IntegrityError:  # another worker handled it first; our side effect rolled back with it
            await uow.rollback()


async def run_once(container: Container) -> int:
    """Deliver one batch of unpublished events in order; answer how many were published."""
    async with container.uow() as uow:
        query = (
            select(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None), OutboxEvent.attempts < MAX_ATTEMPTS)
            .order_by(OutboxEvent.id)
            .limit(BATCH)
        )
        if uow.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = list((await uow.session.execute(query)).scalars())
        published = 0
        for row in rows:
            event = {
                "event_id": row.event_id,
                "topic": row.topic,
                "key": row.key,
                "payload": row.payload,
                "created_at": row.created_at.isoformat(),
            }
            try:
                for subscription in container.subscriptions:
                    if subscription.wants(row.topic):
                        await deliver(container, subscription, event, within=None if uow.is_postgres else uow)
            except Exception as exc:
                log.exception("consumer failed on %s %s", row.topic, row.event_id)
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                break  # keep per-key order: retry this event before any later one
            row.published_at = utcnow()
            published += 1
        await uow.commit()
        return published


async def prune(container: Container, *, older_than: timedelta = timedelta(days=7)) -> int:
    async with container.uow() as uow:
        result = await uow.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < utcnow() - older_than)
            .values(payload={})
        )
        await uow.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
