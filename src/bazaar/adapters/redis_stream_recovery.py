"""When Redis loses what the relay gave it (a restart without saving, FLUSHALL, a failover to a replica
that lagged), the outbox still has every event: find what was lost and publish it again.

Two checks, both run by the relay:
- an epoch key the relay sets in Redis: when it is missing, Redis lost everything, so every published
  but unsettled event is queued again at once;
- now and then, the events published more than a grace period ago that a subscription still owes are
  checked against that subscription's consumer group on their stream: if the stream or the group is
  missing, or the group has nothing pending and nothing unread, the entry is gone and the event is
  queued again (checked twice around the Redis look, so an event handled meanwhile is left alone).
Consumers are idempotent (the inbox), so publishing an event twice is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from bazaar.db.consumers import Subscription, UowFactory
from bazaar.db.outbox import OutboxEvent
from bazaar.db.settlement import Owed, owed_by, publish_again, settle_published
from bazaar.kernel.clock import utcnow

log = logging.getLogger("bazaar.events")
GroupsInfo = Callable[[list[str]], Awaitable[dict[str, dict[str, dict[str, Any]]]]]


class BrokerLossRecovery:
    def __init__(
        self,
        client: Redis,
        *,
        epoch_key: str,
        owner: str,
        uow_factory: UowFactory,
        subscriptions: Sequence[Subscription],
        stream_for: Callable[[str, str], str],
        groups_info: GroupsInfo,
        grace_seconds: float,
        live_nodes: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        self.client = client
        self.epoch_key = epoch_key
        self.owner = owner
        self._uow = uow_factory
        self._subscriptions = subscriptions
        self._stream_for = stream_for
        self._groups_info = groups_info
        self.grace = timedelta(seconds=grace_seconds)
        self._live_nodes = live_nodes
        self.republished = 0  # events published again by this process (metrics, tests)

    async def after_reset(self) -> bool:
        """If Redis lost everything since the last look, queue every unsettled event again; answers whether it did."""
        if await self.client.exists(self.epoch_key):
            return False
        if not await self.client.set(self.epoch_key, self.owner, nx=True):
            return False  # another relay noticed first and is doing it
        again = await publish_again(self._uow)
        self.republished += again
        if again:
            log.warning("Redis lost its data (no epoch key): %d unsettled events queued to publish again", again)
        return True

    async def settle_and_find_lost(self) -> int:
        """Mark settled what every subscription handled; queue again what the broker lost. Answers how many."""
        live = await self._live()
        _, owed = await settle_published(self._uow, self._subscriptions, live_nodes=live)
        cutoff = utcnow() - self.grace
        suspects = [o for o in owed if o.published_at is not None and o.published_at < cutoff]
        if not suspects:
            return 0
        streams = sorted({self._stream_for(o.topic, o.key) for o in suspects})
        infos = await self._groups_info(streams)
        lost = [o for o in suspects if any(self._gone(infos, o, consumer) for consumer in o.consumers)]
        lost = await self._still_owed(lost, live)  # handled between the first look and the Redis look: not lost
        again = await publish_again(self._uow, [o.id for o in lost])
        if again:
            self.republished += again
            log.warning("%d events were no longer in Redis for a consumer that owes them: publishing again", again)
        return again

    def _gone(self, infos: dict[str, dict[str, dict[str, Any]]], owed: Owed, consumer: str) -> bool:
        groups = infos.get(self._stream_for(owed.topic, owed.key))
        if groups is None:
            return True  # the stream itself is gone
        group = groups.get(consumer)
        if group is None:
            return True  # the consumer group is gone
        return int(group["pending"]) == 0 and group["lag"] is not None and int(group["lag"]) == 0

    async def _live(self) -> set[str]:
        return await self._live_nodes() if self._live_nodes is not None else set()

    async def _still_owed(self, lost: list[Owed], live: set[str]) -> list[Owed]:
        if not lost:
            return []
        async with self._uow() as uow:
            query = select(
                OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.topic, OutboxEvent.key, OutboxEvent.published_at
            ).where(OutboxEvent.id.in_([o.id for o in lost]), OutboxEvent.settled_at.is_(None))
            rows = [tuple(r) for r in await uow.session.execute(query)]
            _, owed = await owed_by(uow, self._subscriptions, rows, live_nodes=live)  # type: ignore[arg-type]
        return owed
