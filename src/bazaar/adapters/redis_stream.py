"""Redis Streams event stream (production): partitioned streams per topic group, one consumer group per
consumer, acknowledgements, retries with backoff and a dead-letter stream.

Keys: `<prefix>events:<group>:<partition>` (partition = stable hash of the aggregate id), the dead letters
in `<prefix>events:dead`, and short leases `<prefix>events:lease:<consumer>:<group>:<partition>` so that one
process at a time works a partition for a consumer, which keeps each key's events in order.

Delivery count semantics: reading an entry counts one attempt; a failure keeps it pending and restarts
its idle clock, so the next attempt waits for the backoff; entries of a batch left untried after a
failure are reset to zero attempts. After `max_deliveries` attempts the entry is dead-lettered and acked.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from redis.exceptions import ResponseError
from sqlalchemy import Table, bindparam, func, select, text, update

from bazaar.adapters.redis_client import is_cluster, redis_client
from bazaar.adapters.redis_stream_recovery import BrokerLossRecovery
from bazaar.db.consumers import (
    PER_NODE,
    Subscription,
    UowFactory,
    backoff_seconds,
    deliver,
    deliver_many,
    describe,
    event_from_row,
    is_outage,
    node_of,
    partition_of,
    topic_group,
)
from bazaar.db.driver import Prepared
from bazaar.db.outbox import EventFailure, OutboxEvent
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ports import ConsumerLag, DeadLetter, EventStreamStats

log = logging.getLogger("bazaar.events")

# One relay publishes at a time on PostgreSQL, so each partition receives its keys' events in outbox order.
_RELAY_LOCK = 0x62617A6172
_DEAD_LETTER_MAXLEN = 100_000
_OUTBOX = cast(Table, OutboxEvent.__table__)
_o = _OUTBOX.c
# Built once: every relay round runs them. The oldest unpublished events (rows another relay holds skipped, on
# PostgreSQL), and those marked published in one statement.
_unpublished = (
    select(_o.id, _o.event_id, _o.topic, _o.key, _o.payload, _o.created_at)
    .where(_o.published_at.is_(None))
    .order_by(_o.id)
    .limit(bindparam("batch"))
)
_UNPUBLISHED = Prepared(_unpublished, postgresql=_unpublished.with_for_update(skip_locked=True))
_PUBLISHED = Prepared.listing(
    lambda one_of: update(_OUTBOX).where(one_of(_o.id, "ids")).values(published_at=bindparam("at"))
)
_TRIM_EVERY_SECONDS = 30.0
_SETTLE_EVERY_SECONDS = 1.0
_PARALLEL_PARTITIONS = 4  # partitions worked at once by one process: overlaps database round trips
_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
_RELEASE = _OWNER + "redis.call('del', KEYS[1]) else return 0 end"
_RENEW = _OWNER + "redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


@dataclass
class _Lease:
    """This process's claim on one (consumer, partition) pair."""

    key: str
    renewed_at: float = field(default_factory=time.monotonic)
    released: bool = False


Fields = dict[Any, Any]  # str -> str (the client decodes responses)
Entry = tuple[str, Fields]


class RedisEventStream:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        uow_factory: UowFactory,
        subscriptions: Sequence[Subscription],
        partitions: int = 4,
        max_deliveries: int = 5,
        retry_base_seconds: float = 0.5,
        retry_max_seconds: float = 60,
        batch_size: int = 100,
        lease_seconds: float = 30,
        stream_maxlen: int = 100_000,
        consumer_name: str | None = None,
        live_nodes: Callable[[], Awaitable[set[str]]] | None = None,
        republish_grace_seconds: float = 5.0,
    ) -> None:
        self.client: Any = redis_client(url, decode_responses=True, socket_timeout=5)
        # Acknowledgements and the shared dead-letter stream live on different shards of a cluster.
        self._atomic = not is_cluster(self.client)
        self.prefix = prefix
        self._uow = uow_factory
        self._subscriptions = subscriptions
        self.partitions = partitions
        self.max_deliveries = max_deliveries
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.batch_size = batch_size
        self.lease_ms = int(lease_seconds * 1000)
        self.stream_maxlen = stream_maxlen
        # Unique per process (and per instance, so two in one process are still two consumers).
        self.name = consumer_name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.dead_letter_stream = f"{prefix}events:dead"
        self._groups_ready: set[tuple[str, str]] = set()
        self._next_trim = 0.0
        self._live_nodes = live_nodes
        self._next_settle = 0.0
        self.recovery = BrokerLossRecovery(
            self.client,
            epoch_key=f"{prefix}events:epoch",
            owner=self.name,
            uow_factory=uow_factory,
            subscriptions=subscriptions,
            stream_for=self.stream_for,
            groups_info=self._groups_info,
            grace_seconds=republish_grace_seconds,
            live_nodes=live_nodes,
        )

    # ----- naming

    def stream_for(self, topic: str, key: str) -> str:
        return f"{self.prefix}events:{topic_group(topic)}:{partition_of(key, self.partitions)}"

    def streams_of(self, sub: Subscription) -> list[str]:
        return [f"{self.prefix}events:{g}:{p}" for g in sub.topic_groups() for p in range(self.partitions)]

    def _all_streams(self) -> list[str]:
        return sorted({s for sub in self._subscriptions for s in self.streams_of(sub)})

    # ----- relay: outbox -> streams

    async def relay(self) -> int:
        if await self.recovery.after_reset():
            self._groups_ready.clear()  # Redis forgot the groups too
        async with self._uow() as uow:
            if uow.is_postgres:
                locked = await uow.session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _RELAY_LOCK})
                if not locked.scalar():
                    return 0
            rows = (await uow.fetch(_UNPUBLISHED, {"batch": self.batch_size})).all()
            if rows:
                await self._ensure_groups({self.stream_for(r.topic, r.key) for r in rows})
                async with self.client.pipeline(transaction=False) as pipe:
                    for row in rows:
                        pipe.xadd(
                            self.stream_for(row.topic, row.key),
                            _fields(row),
                            maxlen=self.stream_maxlen,
                            approximate=True,
                        )
                    await pipe.execute()
                # A crash before this commit publishes the rows again; consumers dedupe through the inbox.
                await uow.fetch(_PUBLISHED, {"ids": [row.id for row in rows], "at": utcnow()})
                await uow.commit()
        await self._trim_now_and_then()
        return len(rows) + await self._settle_now_and_then()

    async def _settle_now_and_then(self) -> int:
        """About once a second: settle what every subscription handled, and queue again what Redis lost."""
        if time.monotonic() < self._next_settle:
            return 0
        self._next_settle = time.monotonic() + _SETTLE_EVERY_SECONDS
        return await self.recovery.settle_and_find_lost()

    async def _ensure_groups(self, streams: set[str]) -> None:
        """Create every subscription's group on a stream before the first event lands there, so none is missed."""
        for stream in sorted(streams):
            group_name = stream[len(self.prefix) :].split(":")[1]
            for sub in self._subscriptions:
                if group_name in sub.topic_groups() and (stream, sub.consumer) not in self._groups_ready:
                    await self._create_group(stream, sub.consumer)

    async def join(self) -> None:
        """A node starting: its per-node groups that do not exist yet start at the streams' ends. Whatever
        was published before is already in the database, which the node's copies catch up from on start
        (the search indexer does), so only later events need to reach it; this runs before that catch-up."""
        for sub in self._subscriptions:
            if sub.scope == PER_NODE:
                for stream in self.streams_of(sub):
                    await self._create_group(stream, sub.consumer, start="$")

    async def _create_group(self, stream: str, group: str, *, start: str = "0") -> None:
        try:
            # By default from the start of what is retained: a stream recreated after a Redis restart loses nothing.
            await self.client.xgroup_create(stream, group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups_ready.add((stream, group))

    async def _trim_now_and_then(self) -> None:
        """Drop entries every consumer group has acknowledged (the MAXLEN cap is only a safety net)."""
        if time.monotonic() < self._next_trim:
            return
        self._next_trim = time.monotonic() + _TRIM_EVERY_SECONDS
        live = await self._live_nodes() if self._live_nodes is not None else None
        for stream, groups in (await self._groups_info(self._all_streams())).items():
            if live is not None:
                groups = await self._forget_departed_nodes(stream, groups, live)
            if not groups:
                continue
            async with self.client.pipeline(transaction=False) as pipe:
                for name in groups:
                    pipe.xpending(stream, name)
                summaries = await pipe.execute()
            keep_from = min(
                _stream_id(s["min"]) if s["pending"] else _stream_id(g["last-delivered-id"])
                for g, s in zip(groups.values(), summaries, strict=True)
            )
            if keep_from > (0, 0):
                await self.client.xtrim(stream, minid=f"{keep_from[0]}-{keep_from[1]}", approximate=True)

    async def _forget_departed_nodes(
        self, stream: str, groups: dict[str, dict[str, Any]], live: set[str]
    ) -> dict[str, dict[str, Any]]:
        """Destroy the per-node groups of nodes no longer alive, so they stop holding back trimming. Such a
        node, when it comes back, starts its groups afresh and catches up from the database."""
        kept = {}
        for name, group in groups.items():
            node = node_of(name)
            if node is not None and node not in live:
                log.info("node %s is gone: removing its consumer group %s on %s", node, name, stream)
                await self.client.xgroup_destroy(stream, name)
                self._groups_ready.discard((stream, name))
            else:
                kept[name] = group
        return kept

    # ----- consumers: streams -> handlers

    async def consume(self) -> int:
        """Work the partitions that have something, a few at a time (each one still strictly in order)."""
        limit = asyncio.Semaphore(_PARALLEL_PARTITIONS)

        async def work_one(sub: Subscription, stream: str) -> int:
            async with limit:
                return await self._consume_partition(sub, stream)

        # Every partition finishes its own round (siblings are not cancelled mid-delivery), then the
        # first error, such as an outage, is raised for the worker loop to log and back off.
        results = await asyncio.gather(
            *(work_one(sub, stream) for sub, stream in await self._work()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    async def _work(self) -> list[tuple[Subscription, str]]:
        """The (consumer, partition) pairs with something pending or unread: one pipelined round trip."""
        infos = await self._groups_info(self._all_streams())
        work = []
        for sub in self._subscriptions:
            for stream in self.streams_of(sub):
                groups = infos.get(stream)
                if groups is None:
                    continue  # nothing was ever published there
                info = groups.get(sub.consumer)
                if info is None:
                    await self._create_group(stream, sub.consumer)
                    work.append((sub, stream))
                elif info["pending"] or info["lag"] is None or info["lag"] > 0:
                    work.append((sub, stream))
        return work

    async def _groups_info(self, streams: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """XINFO GROUPS for each stream that exists, keyed by stream then group name."""
        async with self.client.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xinfo_groups(stream)
            replies = await pipe.execute(raise_on_error=False)
        infos = {}
        for stream, reply in zip(streams, replies, strict=True):
            if isinstance(reply, ResponseError):
                if "no such key" not in str(reply):
                    raise reply
                continue
            if isinstance(reply, BaseException):
                raise reply
            infos[stream] = {g["name"]: g for g in reply}
        return infos

    async def _consume_partition(self, sub: Subscription, stream: str) -> int:
        """One batch of a partition for a consumer, under the partition's lease. On one Redis server three round trips
        in the common case (the lease taken with the look at what is pending, the read, the acknowledgement with the
        lease's release), where they were five: a batch of a few events costs its consumer less in Redis than in its
        own work. On a cluster, five: the lease and the stream live on different shards, whose parts of a pipeline
        run in no set order."""
        lease = _Lease(f"{self.prefix}events:lease:{sub.consumer}:{stream[len(self.prefix) + len('events:') :]}")
        taken, pending = await self._take_and_look(sub, stream, lease)
        if isinstance(taken, BaseException):
            raise taken
        if not taken:
            return 0  # another process is working this partition for this consumer
        try:
            if pending is None:
                pending = await self._pending(sub, stream)
            if isinstance(pending, BaseException):  # (the lease taken is released all the same)
                raise pending
            if pending:
                return await self._retry_pending(sub, stream, lease, pending)
            reply: Any = await self.client.xreadgroup(sub.consumer, self.name, {stream: ">"}, count=self.batch_size)
            entries = cast(list[Entry], reply[0][1]) if reply else []
            return await self._handle_new(sub, stream, entries, lease)
        finally:
            if not lease.released:
                await self.client.eval(_RELEASE, 1, lease.key, self.name)

    async def _take_and_look(self, sub: Subscription, stream: str, lease: _Lease) -> tuple[Any, Any]:
        """The lease taken, and on one server what is pending read in the same round trip, after it (the server runs
        a pipeline's commands in order): read before the lease, it could miss entries another process read and left
        pending meanwhile, and new entries would overtake them. On a cluster the look waits for the lease (None)."""
        if not self._atomic:
            return await self.client.set(lease.key, self.name, nx=True, px=self.lease_ms), None
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(lease.key, self.name, nx=True, px=self.lease_ms)
            pipe.xpending_range(stream, sub.consumer, min="-", max="+", count=self.batch_size)
            taken, pending = await pipe.execute(raise_on_error=False)
        return taken, pending

    async def _pending(self, sub: Subscription, stream: str) -> Any:
        return await self.client.xpending_range(stream, sub.consumer, min="-", max="+", count=self.batch_size)

    async def _keep_lease(self, lease: _Lease) -> bool:
        """Renew the lease during a long batch; False if it was lost (then stop and let the owner go on)."""
        if time.monotonic() - lease.renewed_at < self.lease_ms / 3000:
            return True
        lease.renewed_at = time.monotonic()
        return bool(await self.client.eval(_RENEW, 1, lease.key, self.name, self.lease_ms))

    async def _handle_new(
        self, sub: Subscription, stream: str, entries: list[Entry], lease: _Lease | None = None
    ) -> int:
        """Deliver newly read entries in one transaction; stop at the first failure (the partition waits). With the
        batch's `lease`, on one server, a batch delivered in full is acknowledged and the lease released in one round
        trip."""
        acked = [entry_id for entry_id, fields in entries if not sub.wants(fields["topic"])]
        wanted = [(entry_id, fields) for entry_id, fields in entries if sub.wants(fields["topic"])]
        try:
            results = await deliver_many(self._uow, sub, [_event(f) for _, f in wanted], stop_at_failure=True)
        except Exception:
            # An outage or a failed commit: nothing of the batch happened, so no attempt is counted.
            await self._interrupted(sub, stream, acked=acked, untried=[e for e, _ in wanted], attempts=0)
            raise
        for i, (entry_id, fields) in enumerate(wanted):
            error = results.get(fields["event_id"])
            if error is not None:
                untried = [e for e, _ in wanted[i + 1 :]]
                dead = await self._failed(sub, stream, entry_id, fields, 1, error, acked=acked, untried=untried)
                return len(acked) + dead
            acked.append(entry_id)
        if acked and lease is not None and self._atomic:  # (on a cluster the release could overtake the acks)
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xack(stream, sub.consumer, *acked)
                pipe.eval(_RELEASE, 1, lease.key, self.name)
                await pipe.execute()
            lease.released = True
        elif acked:
            await self.client.xack(stream, sub.consumer, *acked)
        return len(acked)

    async def _retry_pending(self, sub: Subscription, stream: str, lease: _Lease, pending: list[dict[str, Any]]) -> int:
        untried = [p["message_id"] for p in itertools.takewhile(lambda p: p["times_delivered"] == 0, pending)]
        if untried:  # left behind by an earlier failure, never attempted: one batch, like new entries
            batch = await self.client.xclaim(stream, sub.consumer, self.name, 0, untried, retrycount=1)
            entries = [(entry_id, fields) for entry_id, fields in cast(list[Entry], batch) if fields]
            gone = set(untried) - {entry_id for entry_id, _ in entries}  # trimmed away meanwhile
            if gone:
                await self.client.xack(stream, sub.consumer, *gone)
            return len(gone) + await self._handle_new(sub, stream, entries)
        settled = 0
        for item in pending:
            entry_id, attempts = item["message_id"], int(item["times_delivered"])
            wait_ms = 1000 * backoff_seconds(attempts, base=self.retry_base_seconds, cap=self.retry_max_seconds)
            if item["time_since_delivered"] < wait_ms or not await self._keep_lease(lease):
                break  # later entries wait behind this one, which keeps per-key order
            retrycount = min(attempts + 1, self.max_deliveries)
            claimed = cast(
                list[Entry],
                await self.client.xclaim(stream, sub.consumer, self.name, 0, [entry_id], retrycount=retrycount),
            )
            if not claimed or not claimed[0][1]:  # trimmed away: nothing left to deliver
                await self.client.xack(stream, sub.consumer, entry_id)
                settled += 1
                continue
            fields = claimed[0][1]
            event = _event(fields)
            if attempts >= self.max_deliveries:  # its attempts ran out without a recorded failure (a crash)
                error = RuntimeError(f"no success after {attempts} deliveries")
                await self._failed(sub, stream, entry_id, fields, attempts, error, acked=[], untried=[])
                settled += 1
                continue
            try:
                if sub.wants(event["topic"]):
                    await deliver(self._uow, sub, event)
            except Exception as exc:
                if is_outage(exc):
                    await self._interrupted(sub, stream, acked=[], untried=[entry_id], attempts=attempts)
                    raise
                if not await self._failed(sub, stream, entry_id, fields, attempts + 1, exc, acked=[], untried=[]):
                    break
            else:
                await self.client.xack(stream, sub.consumer, entry_id)
            settled += 1
        return settled

    async def _interrupted(
        self, sub: Subscription, stream: str, *, acked: list[str], untried: list[Any], attempts: int
    ) -> None:
        """An outage stopped the batch: keep what succeeded, and give back the attempt it interrupted."""
        async with self.client.pipeline(transaction=self._atomic) as pipe:
            if acked:
                pipe.xack(stream, sub.consumer, *acked)
            if untried:
                pipe.xclaim(stream, sub.consumer, self.name, 0, untried, retrycount=attempts, justid=True)
            await pipe.execute()

    async def _failed(
        self,
        sub: Subscription,
        stream: str,
        entry_id: str,
        fields: Fields,
        attempts: int,
        exc: Exception,
        *,
        acked: list[str],
        untried: list[Any],
    ) -> bool:
        """Record a failed attempt, atomically with the batch's acks; answers True if it was dead-lettered."""
        dead = attempts >= self.max_deliveries
        what = f"consumer {sub.consumer} failed on {fields.get('topic')} {fields.get('event_id')} (attempt {attempts})"
        log.log(logging.ERROR if dead else logging.WARNING, "%s: %s", what, describe(exc))
        if dead:  # in the database first: the event counts as settled for this consumer even if Redis forgets
            await self._record_dead(sub, fields, attempts, exc)
        async with self.client.pipeline(transaction=self._atomic) as pipe:
            if acked:
                pipe.xack(stream, sub.consumer, *acked)
            if untried:  # they were read with the failed one but never tried: no attempt counted
                pipe.xclaim(stream, sub.consumer, self.name, 0, untried, retrycount=0, justid=True)
            if dead:
                letter: Fields = {**fields, "consumer": sub.consumer, "stream": stream, "entry_id": entry_id}
                letter |= {
                    "error": describe(exc),
                    "deliveries": attempts,
                    "worker": self.name,
                    "dead_at": utcnow().isoformat(),
                }
                pipe.xadd(self.dead_letter_stream, letter, maxlen=_DEAD_LETTER_MAXLEN, approximate=True)
                pipe.xack(stream, sub.consumer, entry_id)
            else:  # restart its idle clock (the backoff counts from now), keep its attempt count
                pipe.xclaim(stream, sub.consumer, self.name, 0, [entry_id], justid=True)
            await pipe.execute()
        return dead

    async def _record_dead(self, sub: Subscription, fields: Fields, attempts: int, exc: Exception) -> None:
        async with self._uow() as uow:
            failure = await uow.session.get(EventFailure, (sub.consumer, fields["event_id"]))
            if failure is None:
                failure = EventFailure(
                    consumer=sub.consumer,
                    event_id=fields["event_id"],
                    topic=fields["topic"],
                    key=fields["key"],
                    payload=json.loads(fields["payload"]),
                )
                uow.session.add(failure)
            now = utcnow()
            failure.attempts, failure.last_error, failure.retry_at, failure.dead_at = attempts, describe(exc), now, now
            await uow.commit()

    # ----- metrics

    async def stats(self) -> EventStreamStats:
        infos = await self._groups_info(self._all_streams())
        lags = [
            ConsumerLag(stream, name, pending=int(g["pending"]), lag=None if g["lag"] is None else int(g["lag"]))
            for stream, groups in sorted(infos.items())
            for name, g in sorted(groups.items())
        ]
        dead = await self.client.xlen(self.dead_letter_stream)
        async with self._uow() as uow:
            backlog = await uow.session.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None)))
        return EventStreamStats(backlog=int(backlog or 0), dead_letters=int(dead), consumers=tuple(lags))

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        entries = cast(list[Entry], await self.client.xrevrange(self.dead_letter_stream, count=limit))
        return [
            DeadLetter(
                f["consumer"],
                f["event_id"],
                f["topic"],
                f["key"],
                json.loads(f["payload"]),
                f["error"],
                int(f["deliveries"]),
            )
            for _, f in entries
        ]

    async def close(self) -> None:
        await self.client.aclose()


def _fields(row: OutboxEvent) -> Fields:
    """An outbox row as stream entry fields (the same shape handlers get, with the payload as JSON)."""
    return {**event_from_row(row), "payload": json.dumps(row.payload, separators=(",", ":"))}


def _event(fields: Fields) -> dict[str, Any]:
    keys = ("event_id", "topic", "key", "created_at")
    return {**{k: fields[k] for k in keys}, "payload": json.loads(fields["payload"])}


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)
