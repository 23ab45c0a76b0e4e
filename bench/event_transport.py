"""Which event transport: publish rate and CPU per event of Redis Streams without persistence, Redis Streams
with an AOF synced every second, and NATS JetStream (file storage), publishing the relay's entries the way
the relay does (batches of 100, one round trip per batch, 4 partitions by key).

    .venv/bin/python bench/event_transport.py --events 20000 [--nats nats://127.0.0.1:4222]

The Redis servers are private (started here on free ports, stopped at the end); NATS is the server at --nats,
in a stream of its own that is deleted afterwards. Writes bench/results/event-transport-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.asyncio import Redis
from tests.private_servers import PrivateRedis

from bazaar.db.consumers import partition_of

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 100
PARTITIONS = 4
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _pid_of(name: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    return int(entry.name)
            except OSError:
                continue
    return None


def _entries(n: int) -> list[tuple[str, dict[str, str]]]:
    """(key, fields) shaped like the relay's stream entries: ids, topic, key and a small JSON payload."""
    entries = []
    for i in range(n):
        key = f"product-{i % 997}"
        payload = {"product_id": key, "offer_id": f"offer-{i}", "price": {"amount": 1999 + i, "currency": "USD"}}
        entries.append(
            (
                key,
                {
                    "event_id": uuid.uuid4().hex,
                    "topic": "catalog.offer_updated.v1",
                    "key": key,
                    "created_at": datetime.now(UTC).isoformat(),
                    "payload": json.dumps(payload, separators=(",", ":")),
                },
            )
        )
    return entries


async def _timed(
    publish: Callable[[list[tuple[str, dict[str, str]]]], Awaitable[None]], entries: list[Any], server_pid: int | None
) -> dict[str, Any]:
    me = os.getpid()
    client_cpu, server_cpu = _cpu_seconds(me), _cpu_seconds(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    for i in range(0, len(entries), BATCH):
        await publish(entries[i : i + BATCH])
    elapsed = time.perf_counter() - started
    client_cpu = _cpu_seconds(me) - client_cpu
    server_cpu = (_cpu_seconds(server_pid) - server_cpu) if server_pid else float("nan")
    n = len(entries)
    return {
        "events": n,
        "seconds": round(elapsed, 3),
        "events_per_second": round(n / elapsed),
        "client_cpu_us_per_event": round(client_cpu / n * 1e6, 1),
        "server_cpu_us_per_event": round(server_cpu / n * 1e6, 1),
    }


async def redis_rate(entries: list[Any], *, appendonly: bool) -> dict[str, Any]:
    server = PrivateRedis(Path(tempfile.mkdtemp(prefix="bazaar-bench-redis-")), appendonly=appendonly).start()
    client = Redis.from_url(server.url, decode_responses=True)
    try:
        for p in range(PARTITIONS):
            await client.xgroup_create(f"events:catalog:{p}", "bench", id="0", mkstream=True)

        async def publish(batch: list[tuple[str, dict[str, str]]]) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for key, fields in batch:
                    stream = f"events:catalog:{partition_of(key, PARTITIONS)}"
                    pipe.xadd(stream, fields, maxlen=100_000, approximate=True)
                await pipe.execute()

        assert server.process is not None
        result = await _timed(publish, entries, server.process.pid)
        result["stored"] = sum([await client.xlen(f"events:catalog:{p}") for p in range(PARTITIONS)])
        return result
    finally:
        await client.aclose()
        server.stop(kill=False)


async def nats_rate(entries: list[Any], url: str) -> dict[str, Any]:
    import nats

    connection = await nats.connect(url)
    jetstream = connection.jetstream()
    name = f"BAZAAR_BENCH_{uuid.uuid4().hex[:8].upper()}"
    subject = f"bazaar-bench-{name.lower()}"
    await jetstream.add_stream(name=name, subjects=[f"{subject}.>"], storage="file")
    try:

        async def publish(batch: list[tuple[str, dict[str, str]]]) -> None:
            # One round trip per batch, like the Redis pipeline: publish all, then wait for every ack.
            acks = [
                await jetstream.publish_async(
                    f"{subject}.catalog.{partition_of(key, PARTITIONS)}",
                    json.dumps(fields, separators=(",", ":")).encode(),
                    headers={"Nats-Msg-Id": fields["event_id"]},  # JetStream's own duplicate window
                )
                for key, fields in batch
            ]
            await asyncio.gather(*acks)

        result = await _timed(publish, entries, _pid_of("nats-server"))
        result["stored"] = (await jetstream.stream_info(name)).state.messages
        result["note"] = "shared nats-server: its CPU includes whatever else it served meanwhile"
        return result
    finally:
        await jetstream.delete_stream(name)
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is kept")
    args = parser.parse_args()
    entries = _entries(args.events)
    runs: dict[str, list[dict[str, Any]]] = {"redis_no_persistence": [], "redis_aof_everysec": [], "nats_jetstream": []}
    for _ in range(args.rounds):  # alternate, so a burst of load elsewhere on the machine hits all three alike
        runs["redis_no_persistence"].append(await redis_rate(entries, appendonly=False))
        runs["redis_aof_everysec"].append(await redis_rate(entries, appendonly=True))
        runs["nats_jetstream"].append(await nats_rate(entries, args.nats))
    best = {name: max(results, key=lambda r: r["events_per_second"]) for name, results in runs.items()}
    report = {
        "benchmark": "event_transport",
        "events": args.events,
        "batch": BATCH,
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "best": best,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"event-transport-{args.events}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"{'transport':24} {'events/s':>9} {'client µs/ev':>13} {'server µs/ev':>13}")
    for name, result in best.items():
        print(
            f"{name:24} {result['events_per_second']:>9} {result['client_cpu_us_per_event']:>13} "
            f"{result['server_cpu_us_per_event']:>13}"
        )
    print(f"load average {os.getloadavg()[0]:.1f}; written to {out}")


if __name__ == "__main__":
    asyncio.run(main())
