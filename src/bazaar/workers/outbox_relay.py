"""Event workers: the relay (outbox -> event stream) and the consumers (event stream -> handlers).

Which stream carries the events is the container's choice (`container.events`): the outbox table
itself in embedded mode, Redis Streams in production. Handlers are the same either way.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bazaar.bootstrap import Container
from bazaar.db.consumers import deliver
from bazaar.db.outbox import OutboxEvent
from bazaar.kernel.clock import utcnow

__all__ = ["consume_once", "deliver", "prune", "run_once"]


async def run_once(container: Container) -> int:
    """Publish one batch of committed outbox events; answers how many."""
    published = await container.events.relay()
    if published:
        container.stream_wakeup.set()
    return published


async def consume_once(container: Container) -> int:
    """Deliver one round of published events to the subscribed consumers; answers how many settled."""
    return await container.events.consume()


async def drain(container: Container, *, rounds: int = 1000) -> int:
    """Relay and deliver until nothing is left that can be done now (events waiting out a retry backoff stay)."""
    total = 0
    for _ in range(rounds):
        done = await run_once(container) + await consume_once(container)
        total += done
        if not done:
            break
    return total


async def prune(container: Container, *, older_than: timedelta = timedelta(days=7)) -> int:
    """Empty the payloads of events every subscription settled long ago (the rows stay, so event ids stay
    unique): never ahead of the slowest subscription, since an unsettled event may have to be published again."""
    async with container.uow() as uow:
        result = await uow.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.settled_at.is_not(None), OutboxEvent.settled_at < utcnow() - older_than)
            .values(payload={})
        )
        await uow.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
