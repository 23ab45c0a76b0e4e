"""A flash sale as an event: thousands of buyers through the waiting room for a few hundred units.

    .venv/bin/python bench/flash_event.py --pg-url postgresql://postgres@127.0.0.1 --redis-url redis://127.0.0.1:6379/9

On a fresh PostgreSQL database, Redis and `bazaar serve --workers 2`, a seller schedules a flash sale
(--units 300 at a per-buyer limit of --limit 2) through the API. When it goes live, --buyers (5,000) arrive
as a Poisson stream (--arrival-rate per second) and each runs the storefront's journey over the API:
  join      POST /flash-sales/{id}/queue (the latency measured for "queue join");
  wait      GET /flash-sales/{id}/queue/{ticket} every --poll-seconds until admitted, sold out or expired;
  hold      admitted: POST /reservations {offer_id, quantity 1 or 2, admission_token}; one buyer in ten is
            greedy and sends --greedy-holds holds of 1 at once instead, as from several devices;
  finish    --buy-share of holders check out (POST /checkout with flash_sale_id, the sandbox card), half
            of the others release the hold, the rest walk away and let it expire
            (BAZAAR_FLASH_HOLD_TTL_SECONDS=--hold-seconds for the run, so expired units come back during it).
The run ends when every unit is sold or after --timeout seconds. Then the database and Redis are audited:
  oversold        units sold + held beyond the sale's units, and any bucket below zero (must be 0);
  over limit      buyers holding or owning more than the limit (must be 0);
  fairness        Spearman rank correlation between arrival (when the join was sent) and admission (when the
                  server admitted the ticket, read from the waiting room), over admitted buyers (target ≥ 0.95),
                  and how many admitted buyers came later than a buyer who stayed in line and was never admitted;
  latency         p50/p99 of join, poll, hold and checkout; CPU of the server's processes from /proc per request.
The adaptive-vs-fixed hold comparison (bench/hold_simulation.py, same simulated buyers) is added to the report.
Writes bench/results/flash_event.json and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from _accounting import machine_ticks, process_cpu
from _http import request
from flash_sale import _free_port, _percentile, create_buyers, create_offer, start_server
from hold_simulation import buyers as simulated_buyers
from hold_simulation import simulate

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE = "bazaar_bench_flash_event"
ADDRESS = {
    "name": "Flash Buyer",
    "line1": "1 Main St",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "country": "US",
}
CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}


@dataclass
class Buyer:
    token: str
    greedy: bool
    quantity: int
    fate: str  # buy | release | abandon
    sent_at: float = 0.0
    ticket: str | None = None
    outcome: str = "waiting"
    held: int = 0


@dataclass
class Timings:
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> "status code" -> count

    slow: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # kind -> (sent at, seconds) over 100 ms

    def add(self, kind: str, seconds: float, status: int, data: Any = None) -> None:
        self.by_kind.setdefault(kind, []).append(seconds)
        if seconds > 0.1:
            self.slow.setdefault(kind, []).append((round(time.time() - seconds, 3), round(seconds, 3)))
        counts = self.statuses.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1
        if status >= 400 or status == 0:
            code = data.get("error", {}).get("code", "?") if isinstance(data, dict) else "no answer"
            errors = self.errors.setdefault(kind, {})
            errors[f"{status} {code}"] = errors.get(f"{status} {code}", 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            kind: {
                "requests": len(values),
                "p50_ms": round(_percentile(values, 50) * 1000, 1),
                "p99_ms": round(_percentile(values, 99) * 1000, 1),
                "statuses": {str(k): v for k, v in sorted(self.statuses[kind].items())},
                "errors": dict(sorted(self.errors.get(kind, {}).items())),
                "over_100_ms": self.slow.get(kind, []),  # (epoch seconds sent, seconds taken): when the tail happens
            }
            for kind, values in sorted(self.by_kind.items())
        }


class Pool:
    """Kept-alive connections shared by all simulated buyers (one request in flight on each)."""

    def __init__(self, base_url: str, size: int) -> None:
        self.host, port = base_url.removeprefix("http://").split(":")
        self.port = int(port)
        self.size = size
        self.free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.free.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def call(
        self, method: str, path: str, token: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, float]:
        reader, writer = await self.free.get()
        started = time.perf_counter()
        raw = json.dumps(body).encode() if body is not None else b""
        status, answer = 0, b""
        try:
            if writer.is_closing():  # the server asked for a new connection (Connection: close)
                reader, writer = await asyncio.open_connection(self.host, self.port)
            # A kept-alive connection the server closed while it sat idle (uvicorn's keep-alive timeout) fails at
            # once with no answer: ask again on a new connection, as HTTP clients do; a second failure counts as 0.
            for attempt in range(2):
                try:
                    status, answer = await request(
                        reader, writer, self.host, method, path, token=token, body=raw, headers=headers
                    )
                    break
                except (OSError, asyncio.IncompleteReadError):
                    writer.close()
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    if attempt == 0:
                        started = time.perf_counter()
        finally:
            self.free.put_nowait((reader, writer))
        elapsed = time.perf_counter() - started
        try:
            data = json.loads(answer) if answer else None
        except ValueError:
            data = None
        return status, data, elapsed

    async def close(self) -> None:
        while not self.free.empty():
            _, writer = self.free.get_nowait()
            writer.close()


async def wait_ready(base_url: str, seconds: float = 240) -> None:
    """/readyz answers 200 (on a loaded machine a server with its worker takes a while to start)."""
    import httpx

    deadline, last = time.monotonic() + seconds, ""
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                r = await client.get("/readyz")
                if r.status_code == 200:
                    return
                last = r.text[:300]
            except httpx.HTTPError as exc:
                last = repr(exc)
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the server did not become ready: {last}")


async def seller_token(conn: asyncpg.Connection, offer_id: str) -> str:
    """A bearer token for the offer's seller (inserted like create_buyers does for buyers)."""
    import hashlib

    from bazaar.kernel.ids import new_id, new_secret

    user_id = await conn.fetchval(
        "SELECT s.user_id FROM offers o JOIN sellers s ON s.id = o.seller_id WHERE o.id=$1", offer_id
    )
    token, now = new_secret(), datetime.now(UTC)
    await conn.execute(
        "INSERT INTO auth_tokens (id, user_id, token_hash, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)",
        new_id(),
        user_id,
        hashlib.sha256(token.encode()).hexdigest(),
        now,
        now + timedelta(days=1),
    )
    return token


async def journey(
    pool: Pool, args: argparse.Namespace, sale: dict[str, Any], b: Buyer, t: Timings, done: asyncio.Event
) -> None:
    sale_id, offer_id = sale["id"], sale["offer_id"]
    b.sent_at = time.perf_counter()
    status, data, elapsed = await pool.call("POST", f"/api/v1/flash-sales/{sale_id}/queue", b.token)
    t.add("join", elapsed, status, data)
    if status != 201:
        b.outcome = f"join_{status}"
        return
    b.ticket = data["ticket"]
    token = data.get("admission_token")
    state = data["status"]
    while state == "waiting" and not done.is_set():
        await asyncio.sleep(max(args.poll_seconds, data.get("poll_after_seconds", 0)) * random.uniform(0.8, 1.2))
        status, data, elapsed = await pool.call("GET", f"/api/v1/flash-sales/{sale_id}/queue/{b.ticket}", b.token)
        t.add("poll", elapsed, status, data)
        if status == 200:
            state, token = data["status"], data.get("admission_token")
        else:
            data = {}
    b.outcome = state
    if state != "admitted":
        return
    holds = [1] * args.greedy_holds if b.greedy else [b.quantity]
    answers = await asyncio.gather(
        *(
            pool.call(
                "POST", "/api/v1/reservations", b.token, {"offer_id": offer_id, "quantity": q, "admission_token": token}
            )
            for q in holds
        )
    )
    held_ids = []
    for status, data, elapsed in answers:
        t.add("hold", elapsed, status, data)
        if status == 201:
            b.held += data["quantity"]
            held_ids.append(data["id"])
    if not held_ids:
        b.outcome = "admitted_not_held"
        return
    await asyncio.sleep(random.uniform(0.2, 1.5))  # filling in the checkout form
    if b.fate == "buy":
        body = {"shipping_address": ADDRESS, "shipping_method": "standard", "payment": CARD, "flash_sale_id": sale_id}
        status, data, elapsed = await pool.call(
            "POST", "/api/v1/checkout", b.token, body, {"Idempotency-Key": uuid.uuid4().hex}
        )
        t.add("checkout", elapsed, status, data)
        b.outcome = "bought" if status == 201 else f"checkout_{status}"
    elif b.fate == "release":
        for rid in held_ids:
            status, _, elapsed = await pool.call("POST", f"/api/v1/reservations/{rid}/release", b.token)
            t.add("release", elapsed, status)
        b.outcome = "released"
    else:
        b.outcome = "abandoned"


async def audit(conn: asyncpg.Connection, sale_id: str, offer_id: str, units: int, limit: int) -> dict[str, Any]:
    sale = await conn.fetchrow("SELECT units, units_taken, units_sold FROM flash_sales WHERE id=$1", sale_id)
    sold = await conn.fetchval(
        "SELECT coalesce(sum(quantity),0) FROM reservations WHERE offer_id=$1 AND status='committed'", offer_id
    )
    held = await conn.fetchval(
        "SELECT coalesce(sum(quantity),0) FROM reservations WHERE offer_id=$1 AND status='held'", offer_id
    )
    ordered = await conn.fetchval("SELECT coalesce(sum(quantity),0) FROM order_lines WHERE offer_id=$1", offer_id)
    lowest = await conn.fetchval("SELECT min(available) FROM stock_buckets WHERE offer_id=$1", offer_id)
    over = await conn.fetchval(
        "SELECT count(*) FROM (SELECT user_id FROM reservations WHERE offer_id=$1 AND status IN ('held','committed')"
        " GROUP BY user_id HAVING sum(quantity) > $2) x",
        offer_id,
        limit,
    )
    most = await conn.fetchval(
        "SELECT coalesce(max(s),0) FROM (SELECT sum(quantity) s FROM reservations WHERE offer_id=$1"
        " AND status IN ('held','committed') GROUP BY user_id) x",
        offer_id,
    )
    return {
        "units": units,
        "units_sold": int(sold),
        "units_ordered": int(ordered),
        "units_held_at_end": int(held),
        "oversold": max(0, int(sold) + int(held) - units) + (1 if lowest is not None and lowest < 0 else 0),
        "buyers_over_limit": int(over),
        "most_units_one_buyer": int(most),
        "sale_counters": dict(sale),
    }


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (vx * vy) if vx and vy else 1.0


async def waiting_room(
    redis_url: str, prefix: str, sale_id: str, window: int
) -> tuple[dict[str, float], dict[str, int]]:
    """(ticket -> when the server admitted it, in ms; ticket -> its arrival number), read from the room's keys."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        until = await client.hgetall(f"{prefix}fs:{{{sale_id}}}:until_of")
        seq = await client.hgetall(f"{prefix}fs:{{{sale_id}}}:seq_of")
    finally:
        await client.aclose()
    return (
        {k.decode(): int(v) - window * 1000 for k, v in until.items()},
        {k.decode(): int(v) for k, v in seq.items()},
    )


async def measure(args: argparse.Namespace, dsn: str, base_url: str, prefix: str, groups: list[int]) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    rng = random.Random(args.seed)
    try:
        tokens = await create_buyers(conn, args.buyers)
        offer_id = await create_offer(conn, units=args.units * 4, buckets=4)  # the sale takes 300 of the offer's 1200
        seller = await seller_token(conn, offer_id)
        await wait_ready(base_url)
        pool = Pool(base_url, args.connections)
        await pool.open()
        starts = datetime.now(UTC) + timedelta(seconds=3)
        body = {
            "offer_id": offer_id,
            "price": {"amount": 9900, "currency": "USD"},
            "units": args.units,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=30)).isoformat(),
            "per_buyer_limit": args.limit,
        }
        status, sale, _ = await pool.call("POST", "/api/v1/sellers/me/flash-sales", seller, body)
        assert status == 201, sale
        crowd = []
        for token in tokens:
            fate = rng.random()
            crowd.append(
                Buyer(
                    token,
                    rng.random() < 0.1,
                    2 if rng.random() < 0.3 else 1,
                    "buy"
                    if fate < args.buy_share
                    else ("release" if fate < args.buy_share + (1 - args.buy_share) / 2 else "abandon"),
                )
            )
        await asyncio.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 1.2)  # live, and in every calendar
        timings, done = Timings(), asyncio.Event()
        cpu0, ticks0, wall0 = process_cpu(groups), machine_ticks(), time.perf_counter()
        tasks = []
        for b in crowd:
            tasks.append(asyncio.create_task(journey(pool, args, sale, b, timings, done)))
            await asyncio.sleep(rng.expovariate(args.arrival_rate))
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            sold = await conn.fetchval("SELECT units_sold FROM flash_sales WHERE id=$1", sale["id"])
            if sold >= args.units or all(t.done() for t in tasks):
                break
            await asyncio.sleep(1)
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - wall0
        cpu1, ticks1 = process_cpu(groups), machine_ticks()
        await pool.close()
        await asyncio.sleep(2)  # the last events settle (sold counters)
        report = await audit(conn, sale["id"], offer_id, args.units, args.limit)
    finally:
        await conn.close()
    admitted_at, seq = await waiting_room(args.redis_url, prefix, sale["id"], args.admission_window)
    joined = [b for b in crowd if b.ticket]
    pairs = [(b.sent_at, admitted_at[b.ticket]) for b in joined if b.ticket in admitted_at]
    # A fairness violation: admitted although an earlier arrival stayed in line to the end, never let in
    # (buyers whose place lapsed because they stopped polling, or who left, were skipped fairly).
    stayed = [b.sent_at for b in joined if b.ticket not in admitted_at and b.outcome in ("waiting", "sold_out")]
    first_missed = min(stayed, default=None)
    late = sum(1 for sent, _ in pairs if first_missed is not None and sent > first_missed)
    fairness = {
        "admitted_buyers": len(pairs),
        # Admitted buyers only: the order they were let in against the order they sent their join.
        "spearman_admitted_buyers": round(spearman([p[0] for p in pairs], [p[1] for p in pairs]), 4),
        # The queue's own order (arrival number given by the server) against admission: the admitter's FIFO.
        "spearman_queue_order_vs_admission": round(
            spearman(
                [seq[b.ticket] for b in joined if b.ticket in admitted_at],
                [admitted_at[b.ticket] for b in joined if b.ticket in admitted_at],
            ),
            4,
        ),
        "expired_places": sum(1 for b in joined if b.outcome == "expired" and b.ticket not in admitted_at),
        "admitted_after_an_earlier_arrival_left_waiting": late,
    }
    requests = sum(len(v) for v in timings.by_kind.values())
    cpu = sum(cpu1.values()) - sum(cpu0.values())
    outcomes: dict[str, int] = {}
    for b in crowd:
        outcomes[b.outcome] = outcomes.get(b.outcome, 0) + 1
    return {
        "sale_id": sale["id"],
        "seconds": round(elapsed, 1),
        "audit": report,
        "fairness": fairness,
        "requests": timings.summary(),
        "outcomes": outcomes,
        "cpu": {
            "server_seconds": round(cpu, 2),
            "by_process": {k: round(cpu1.get(k, 0) - cpu0.get(k, 0), 2) for k in cpu1},
            "ms_per_request": round(cpu / requests * 1000, 3) if requests else None,
            "machine_busy_share": round((ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1]), 3),
            "load_average": os.getloadavg(),
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    async def recreate() -> str:
        conn = await asyncpg.connect(f"{args.pg_url.rstrip('/')}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    version = asyncio.run(recreate())
    dsn = f"{args.pg_url.rstrip('/')}/{DATABASE}"
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "BAZAAR_DATABASE_URL": dsn,
        "BAZAAR_REDIS_URL": args.redis_url,
        "BAZAAR_REDIS_PREFIX": prefix,
        "BAZAAR_RATE_LIMITS": "off",
        "BAZAAR_ACCESS_LOG": "false",
        "BAZAAR_LOG_LEVEL": "WARNING",
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
        "BAZAAR_DATA_DIR": str(RESULTS / "flash-event-data"),
        "BAZAAR_FLASH_HOLD_TTL_SECONDS": str(args.hold_seconds),
        "BAZAAR_FLASH_ADMISSION_WINDOW_SECONDS": str(args.admission_window),
        "BAZAAR_FLASH_QUEUE_IDLE_SECONDS": str(args.idle_seconds),
        "BAZAAR_CAPTURE_DELAY_SECONDS": "3600",
    }
    subprocess.run([sys.executable, "-m", "bazaar.cli", "migrate"], env=env, check=True, capture_output=True)
    port = _free_port()
    server_args = argparse.Namespace(server="serve", workers=args.workers)
    proc = start_server(server_args, env, port)
    try:
        results = asyncio.run(measure(args, dsn, f"http://127.0.0.1:{port}", prefix, [proc.pid]))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    crowd = simulated_buyers(args.buyers, seconds=1800, buy_share=0.5, median=45, seed=args.seed)
    common = {"units": args.units, "seconds": 1800.0, "floor": 120, "ceiling": 600, "cap": 180}
    results["hold_policy_simulation"] = {
        "fixed_10_min": simulate(crowd, policy="fixed", **common),
        "adaptive": simulate(crowd, policy="adaptive", **common),
    }
    results.update(
        {
            "postgres": version,
            "config": {k: v for k, v in vars(args).items() if k not in {"pg_url", "redis_url"}},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "at": datetime.now(UTC).isoformat(),
        }
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--arrival-rate", type=float, default=100, help="buyers arriving per second (Poisson)")
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--greedy-holds", type=int, default=4)
    parser.add_argument("--buy-share", type=float, default=0.7)
    parser.add_argument("--hold-seconds", type=int, default=60, help="BAZAAR_FLASH_HOLD_TTL_SECONDS for the run")
    parser.add_argument("--admission-window", type=int, default=180, help="BAZAAR_FLASH_ADMISSION_WINDOW_SECONDS")
    parser.add_argument("--idle-seconds", type=int, default=180, help="BAZAAR_FLASH_QUEUE_IDLE_SECONDS")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    results = run(args)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "flash_event.json").write_text(json.dumps(results, indent=2, default=str))
    a, f, c = results["audit"], results["fairness"], results["cpu"]
    print(
        f"{args.buyers} buyers for {args.units} units (limit {args.limit}), serve --workers {args.workers}, "
        f"PostgreSQL {results['postgres']} + Redis; {results['seconds']} s"
    )
    print(
        f"  sold {a['units_sold']} (ordered {a['units_ordered']}), held at end {a['units_held_at_end']}, "
        f"oversold {a['oversold']}, buyers over the limit {a['buyers_over_limit']} (most {a['most_units_one_buyer']})"
    )
    print(
        f"  fairness: {f['admitted_buyers']} admitted; Spearman(arrival, admission) "
        f"{f['spearman_admitted_buyers']} (queue order vs admission {f['spearman_queue_order_vs_admission']}); "
        f"places lapsed unpolled {f['expired_places']}; "
        f"admitted after an earlier arrival left waiting: {f['admitted_after_an_earlier_arrival_left_waiting']}"
    )
    for kind, r in results["requests"].items():
        print(
            f"  {kind:9} {r['requests']:6} requests  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms"
            f"  {r['statuses']}" + (f" errors {r['errors']}" if r["errors"] else "")
        )
    print(
        f"  server CPU {c['server_seconds']} s = {c['ms_per_request']} ms per request; machine busy "
        f"{c['machine_busy_share']:.0%}, load {c['load_average'][0]:.1f}"
    )
    print(f"  outcomes: {results['outcomes']}")
    for name, r in results["hold_policy_simulation"].items():
        print(
            f"  holds {name:13} sold {r['units_sold_in_sale']} in 30 min ({r['units_sold_per_minute']}/min), "
            "unsold at end "
            f"{r['unsold_share_at_end']:.1%}, sold out after {r['sold_out_after_minutes']} min, expired unsold "
            f"{r['expired_unsold_share']:.1%} of holds"
        )


if __name__ == "__main__":
    main()
