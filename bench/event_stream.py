"""Benchmark the event stream: relay and consumer throughput for N events, embedded or Redis Streams.

    .venv/bin/python bench/event_stream.py --events 2000 --backend sqlite
    .venv/bin/python bench/event_stream.py --events 2000 --backend postgres --pg-url postgresql://postgres@127.0.0.1
    .venv/bin/python bench/event_stream.py --events 2000 --backend postgres+redis \\
        --pg-url postgresql://postgres@127.0.0.1 --redis-url redis://127.0.0.1:6379/15

One consumer writes one row per event (the shape of a notification or stats consumer), so the
consume rate includes its inbox-protected transaction. Writes bench/results/event-stream-<backend>-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import asyncpg

from bazaar.accounts.models import User
from bazaar.bootstrap import SHARED, build_container
from bazaar.db.migrate import upgrade
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.events import Event
from bazaar.notifications.models import Notification
from bazaar.settings import Settings
from bazaar.workers import outbox_relay

RESULTS = Path(__file__).resolve().parent / "results"
BENCH_DATABASE = "bazaar_bench_events"


@dataclass(frozen=True)
class BenchThingChanged(Event):
    topic: ClassVar[str] = "catalog.bench_thing_changed.v1"
    key_field: ClassVar[str] = "thing_id"
    thing_id: str
    seq: int


async def _recreate(pg_url: str) -> None:
    conn = await asyncpg.connect(f"{pg_url.rstrip('/')}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    finally:
        await conn.close()


async def measure(settings: Settings, events: int) -> dict[str, Any]:
    container = build_container(settings)
    try:
        async with container.uow() as uow:
            user = User(email="bench@example.com", name="Bench", password_hash="x")
            uow.session.add(user)
            await uow.commit()

        async def notify(uow: UnitOfWork, event: dict[str, Any]) -> None:
            uow.session.add(Notification(user_id=user.id, kind="bench", subject=event["event_id"], body=""))

        container.subscribe("bench-notifier", ("catalog.",), notify, scope=SHARED)
        for start in range(0, events, 500):
            async with container.uow() as uow:
                for i in range(start, min(events, start + 500)):
                    uow.emit(BenchThingChanged(thing_id=f"thing-{i % 100}", seq=i))
                await uow.commit()
        started = time.perf_counter()
        while await outbox_relay.run_once(container):
            pass
        relayed = time.perf_counter()
        while await outbox_relay.consume_once(container):
            pass
        consumed = time.perf_counter()
        stats = await container.events.stats()
        assert stats.backlog == 0 and all(not c.lag and not c.pending for c in stats.consumers)
        return {"relay_seconds": relayed - started, "consume_seconds": consumed - relayed}
    finally:
        if settings.redis_url:  # the streams of this run only
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url)
            keys = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
        await container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "postgres+redis"], default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()

    common: dict[str, Any] = {"log_level": "WARNING", "password_hash_profile": "fast"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "sqlite":
            settings = Settings(data_dir=Path(tmp), **common)
        else:
            asyncio.run(_recreate(args.pg_url))
            settings = Settings(database_url=f"{args.pg_url.rstrip('/')}/{BENCH_DATABASE}", **common)
            if args.backend == "postgres+redis":
                settings = Settings(
                    database_url=settings.database_url,
                    redis_url=args.redis_url,
                    redis_prefix=f"bench:{uuid.uuid4().hex[:8]}:",
                    **common,
                )
        upgrade(settings)
        timings = asyncio.run(measure(settings, args.events))

    result = {
        "benchmark": "event_stream",
        "backend": args.backend,
        "events": args.events,
        **timings,
        "relay_per_second": args.events / timings["relay_seconds"] if timings["relay_seconds"] > 0.001 else None,
        "consume_per_second": args.events / timings["consume_seconds"],
        "at": datetime.now(UTC).isoformat(),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"event-stream-{args.backend.replace('+', '-')}-{args.events}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    relay = f"{result['relay_per_second']:.0f}/s" if result["relay_per_second"] else "n/a (the outbox is the stream)"
    print(
        f"{args.backend}: {args.events} events, relay {relay}, "
        f"consume {result['consume_per_second']:.0f}/s (one consumer, one row per event) -> {out}"
    )


if __name__ == "__main__":
    main()
