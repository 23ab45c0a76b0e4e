"""Settling outbox events: an event is done only when every subscription that wants it has handled it
(an inbox row) or given up on it (a dead `event_failures` row): each shared subscription once, each
per-node subscription once per live node (the node registry, bazaar.db.nodes). Until then the transport's copy is not
trusted: the relay may publish it again, which the inbox makes harmless."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from bazaar.db.consumers import Subscription, UowFactory, owing_consumers
from bazaar.db.outbox import EventFailure, InboxEntry, OutboxEvent
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow


@dataclass(frozen=True)
class Owed:
    """A published event that some subscriptions have not handled yet."""

    id: int
    event_id: str
    topic: str
    key: str
    published_at: datetime | None
    consumers: tuple[str, ...]  # the subscriptions that still owe it


async def owed_by(
    uow: UnitOfWork,
    subscriptions: Sequence[Subscription],
    rows: Sequence[tuple[int, str, str, str, datetime | None]],
    *,
    live_nodes: Collection[str] = (),
) -> tuple[list[int], list[Owed]]:
    """Split (id, event_id, topic, key, published_at) rows into settled ids and the events still owed."""
    if not rows:
        return [], []
    event_ids = [r[1] for r in rows]
    owing = {topic: sorted(owing_consumers(subscriptions, topic, live_nodes)) for topic in {r[2] for r in rows}}
    names = sorted({name for names in owing.values() for name in names})
    inbox = select(InboxEntry.consumer, InboxEntry.event_id).where(
        InboxEntry.consumer.in_(names), InboxEntry.event_id.in_(event_ids)
    )
    dead = select(EventFailure.consumer, EventFailure.event_id).where(
        EventFailure.consumer.in_(names), EventFailure.event_id.in_(event_ids), EventFailure.dead_at.is_not(None)
    )
    done = {(c, e) for c, e in await uow.session.execute(inbox)} | {(c, e) for c, e in await uow.session.execute(dead)}
    settled, owed = [], []
    for id_, event_id, topic, key, published_at in rows:
        missing = tuple(name for name in owing[topic] if (name, event_id) not in done)
        if missing:
            owed.append(Owed(id_, event_id, topic, key, published_at, missing))
        else:
            settled.append(id_)
    return settled, owed


async def settle_published(
    uow_factory: UowFactory,
    subscriptions: Sequence[Subscription],
    *,
    live_nodes: Collection[str] = (),
    limit: int = 1000,
) -> tuple[int, list[Owed]]:
    """Mark settled the oldest published events every subscription is done with; answers how many, and
    the published events still owed (oldest first)."""
    async with uow_factory() as uow:
        query = (
            select(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.topic, OutboxEvent.key, OutboxEvent.published_at)
            .where(OutboxEvent.settled_at.is_(None), OutboxEvent.published_at.is_not(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        rows = [tuple(r) for r in await uow.session.execute(query)]
        settled, owed = await owed_by(uow, subscriptions, rows, live_nodes=live_nodes)  # type: ignore[arg-type]
        if settled:
            mark = update(OutboxEvent).where(OutboxEvent.id.in_(settled)).values(settled_at=utcnow())
            await uow.session.execute(mark)
            await uow.commit()
    return len(settled), owed


async def publish_again(uow_factory: UowFactory, ids: Sequence[int] | None = None) -> int:
    """Put published but unsettled events back in the relay's queue (all of them when `ids` is None)."""
    async with uow_factory() as uow:
        query = update(OutboxEvent).where(OutboxEvent.settled_at.is_(None), OutboxEvent.published_at.is_not(None))
        if ids is not None:
            if not ids:
                return 0
            query = query.where(OutboxEvent.id.in_(list(ids)))
        result = await uow.session.execute(query.values(published_at=None))
        await uow.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
