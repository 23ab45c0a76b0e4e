"""Flash sale: thousands of buyers race through the HTTP API for the last units of one offer.

    .venv/bin/python bench/flash_sale.py --pg-url postgresql://postgres@127.0.0.1 --redis-url redis://127.0.0.1:6379/12

For each bucket count (1 and 16 by default), on a fresh PostgreSQL database and a running
`bazaar serve --workers 2`:
  flash      BUYERS buyers (2,000) each reserve 1 unit of an offer with UNITS (100) units through
             POST /api/v1/reservations; the database is then checked: sold, oversold (must be 0), rejected.
  sustained  each buyer reserves 1 unit three times (--sustained-rounds) on an offer with enough stock for
             all of them: the rate at which Bazaar grants holds (reservations/s).
  in-process BUYERS holds through `inventory.hot.hold_units` (what the route calls) from this process
             (no HTTP, no auth), to tell the database path's rate from the web layer's cost.
  SQL        the general path's reservation statements alone (savepoint, take from a bucket, INSERT the
             hold; what `reserve_lines` runs for a cart) from asyncpg, one transaction per hold.
  raw        an asyncpg loop of the single-row conditional UPDATE (`available = available - 1 WHERE
             available >= 1`) at the same concurrency: the ceiling of one hot row.
The ratio printed is sustained reservations/s divided by the raw single-row rate.
Before measuring, every buyer holds one unit of a warm-up offer, so their tokens are known to the session
cache (as a logged-in buyer's would be) and connection pools are open.
Writes bench/results/flash_sale.json and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bazaar.kernel.ids import new_id, new_secret

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from _http import request, run_pool

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE = "bazaar_bench_flash"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


async def recreate_database(pg_url: str) -> str:
    conn = await asyncpg.connect(f"{pg_url.rstrip('/')}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def create_buyers(conn: asyncpg.Connection, count: int) -> list[str]:
    """Buyers with ready bearer tokens, inserted directly (one shared password hash: nobody logs in)."""
    now = datetime.now(UTC)
    users, tokens, secrets = [], [], []
    for n in range(count):
        user_id, token = new_id(), new_secret()
        users.append((user_id, f"buyer{n}@bench.example", f"Buyer {n}", "bench-no-login", False, now))
        tokens.append((new_id(), user_id, hashlib.sha256(token.encode()).hexdigest(), now, now + timedelta(days=1)))
        secrets.append(token)
    await conn.executemany(
        "INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES ($1,$2,$3,$4,$5,$6)", users
    )
    await conn.executemany(
        "INSERT INTO auth_tokens (id, user_id, token_hash, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)", tokens
    )
    return secrets


async def create_offer(conn: asyncpg.Connection, *, units: int, buckets: int) -> str:
    """A seller, a product and one offer whose stock is spread over `buckets` rows."""
    now = datetime.now(UTC)
    ids = {k: new_id() for k in ("user", "seller", "category", "product", "sku", "offer")}
    await conn.execute(
        "INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES ($1,$2,'Seller','x',false,$3)",
        ids["user"],
        f"seller-{ids['user']}@bench.example",
        now,
    )
    await conn.execute(
        "INSERT INTO sellers (id, user_id, display_name, rating_average, rating_count, created_at)"
        " VALUES ($1,$2,'Flash Shop',0,0,$3)",
        ids["seller"],
        ids["user"],
        now,
    )
    await conn.execute(
        "INSERT INTO categories (id, slug, name, path, depth, position) VALUES ($1,$2,'Deals','/',0,0)",
        ids["category"],
        f"deals-{ids['category'].lower()}",
    )
    await conn.execute(
        "INSERT INTO products (id, title, description, brand, category_id, attributes, rating_average, rating_count,"
        " tax_category, weight_grams, created_at, updated_at)"
        " VALUES ($1,'Flash Console','','Acme',$2,'{}',0,0,'general',500,$3,$3)",
        ids["product"],
        ids["category"],
        now,
    )
    await conn.execute(
        "INSERT INTO skus (id, product_id, attributes, created_at) VALUES ($1,$2,'{}',$3)",
        ids["sku"],
        ids["product"],
        now,
    )
    await conn.execute(
        "INSERT INTO offers (id, sku_id, product_id, seller_id, price_amount, shipping_amount, currency, condition,"
        " status, bucket_count, created_at, updated_at)"
        " VALUES ($1,$2,$3,$4,49900,0,'USD','new','active',$5,$6,$6)",
        ids["offer"],
        ids["sku"],
        ids["product"],
        ids["seller"],
        buckets,
        now,
    )
    base, extra = divmod(units, buckets)
    await conn.executemany(
        "INSERT INTO stock_buckets (offer_id, bucket, on_hand, available) VALUES ($1,$2,$3,$3)",
        [(ids["offer"], b, base + (1 if b < extra else 0)) for b in range(buckets)],
    )
    return ids["offer"]


async def fire(base_url: str, offer_id: str, tokens: list[str], concurrency: int) -> dict[str, Any]:
    """One reservation per token, `concurrency` connections each with one request in flight."""
    body = json.dumps({"offer_id": offer_id, "quantity": 1}).encode()

    async def hold(reader: Any, writer: Any, host: str, token: str) -> tuple[int, bytes]:
        return await request(reader, writer, host, "POST", "/api/v1/reservations", token=token, body=body)

    results, elapsed = await run_pool(base_url, tokens, concurrency, hold)
    latencies = [seconds for seconds, _, _ in results]
    statuses: dict[int, int] = {}
    for _, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "requests": len(tokens),  # status "0": no HTTP answer (connection error); the audit counts what the DB holds
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(tokens) / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
    }


async def audit(conn: asyncpg.Connection, offer_id: str, units: int) -> dict[str, int]:
    """What the database says happened: never more units held or sold than the offer ever had."""
    held = await conn.fetchval(
        "SELECT coalesce(sum(quantity),0) FROM reservations WHERE offer_id=$1 AND status IN ('held','committed')",
        offer_id,
    )
    row = await conn.fetchrow(
        "SELECT sum(on_hand) AS on_hand, sum(available) AS available, min(available) AS lowest"
        " FROM stock_buckets WHERE offer_id=$1",
        offer_id,
    )
    return {
        "sold": int(held),
        "oversold": max(0, int(held) - units),
        "available_left": int(row["available"]),
        "lowest_bucket_available": int(row["lowest"]),
        "on_hand": int(row["on_hand"]),
    }


async def raw_single_row(dsn: str, *, concurrency: int, updates: int) -> dict[str, Any]:
    """The hot-row ceiling: autocommitted conditional decrements of one row, `concurrency` connections."""
    conn = await asyncpg.connect(dsn)
    offer_id = await create_offer(conn, units=updates + 1, buckets=1)
    await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    remaining = updates
    succeeded = 0

    async def client() -> None:
        nonlocal remaining, succeeded
        async with pool.acquire() as c:
            while remaining > 0:
                remaining -= 1
                status = await c.execute(
                    "UPDATE stock_buckets SET available = available - 1"
                    " WHERE offer_id = $1 AND bucket = 0 AND available >= 1",
                    offer_id,
                )
                succeeded += status == "UPDATE 1"

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await pool.close()
    per_s = round(updates / elapsed, 1)
    return {"updates": updates, "succeeded": succeeded, "seconds": round(elapsed, 3), "per_s": per_s}


async def raw_reserve_sql(dsn: str, *, buckets: int, concurrency: int, updates: int) -> dict[str, Any]:
    """Bazaar's reservation SQL alone (take from a bucket + INSERT the hold, one transaction), from asyncpg:
    what the database allows the design, before any Python web stack."""
    from bazaar.inventory.allocation import _TAKE_UNLOCKED, FAST_PATH_TRIES

    conn = await asyncpg.connect(dsn)
    offer_id = await create_offer(conn, units=updates + buckets, buckets=buckets)
    await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    take_unlocked = str(_TAKE_UNLOCKED).replace(":offer_id", "$1").replace(":qty", "1")
    take_first = (
        "UPDATE stock_buckets SET available = available - 1 WHERE offer_id = $1 AND available >= 1 AND bucket ="
        " (SELECT min(bucket) FROM stock_buckets WHERE offer_id = $1 AND available >= 1) RETURNING bucket"
    )
    remaining = updates
    expires = datetime.now(UTC) + timedelta(minutes=10)

    async def client() -> None:
        nonlocal remaining
        async with pool.acquire() as c:
            while remaining > 0:
                remaining -= 1
                async with c.transaction():
                    bucket = None
                    if buckets > 1:  # the fast path as allocation.take runs it
                        await c.execute("SAVEPOINT take_units")
                        for attempt in range(FAST_PATH_TRIES):
                            bucket = await c.fetchval(take_unlocked, offer_id)
                            if bucket is not None:
                                break
                            await c.execute("ROLLBACK TO SAVEPOINT take_units")
                            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                    while bucket is None:  # wait on the first bucket with units, as the slow path would
                        bucket = await c.fetchval(take_first, offer_id)
                    await c.execute(
                        "INSERT INTO reservations (id, offer_id, bucket, quantity, status, expires_at, created_at,"
                        " updated_at) VALUES ($1, $2, $3, 1, 'held', $4, now(), now())",
                        new_id(), offer_id, bucket, expires,
                    )  # fmt: skip

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return {"buckets": buckets, "reservations": updates, "seconds": round(elapsed, 3),
            "per_s": round(updates / elapsed, 1)}  # fmt: skip


async def service_rate(dsn: str, *, buckets: int, reservations: int, concurrency: int) -> dict[str, Any]:
    """The same holds through `hold_units` in this process, without HTTP: the database path alone."""
    import bazaar.db.registry  # noqa: F401  (every table, for the foreign keys)
    from bazaar.bootstrap import build_container
    from bazaar.inventory.hot import hold_units
    from bazaar.settings import Settings

    conn = await asyncpg.connect(dsn)
    offer_id = await create_offer(conn, units=reservations, buckets=buckets)
    await conn.close()
    pool = min(concurrency, 60)
    container = build_container(Settings(database_url=dsn, db_pool_size=pool, db_max_overflow=0, log_level="WARNING"))
    remaining = reservations

    async def buyer() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await hold_units(
                hot=container.hot_reservations, uow_factory=container.uow, offer_id=offer_id, quantity=1,
                user_id=None, ttl=timedelta(minutes=10), sold_out=container.sold_out,
            )  # fmt: skip

    started = time.perf_counter()
    await asyncio.gather(*(buyer() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await container.close()
    return {"buckets": buckets, "reservations": reservations, "seconds": round(elapsed, 3),
            "per_s": round(reservations / elapsed, 1)}  # fmt: skip


def start_server(args: argparse.Namespace, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    if args.server == "serve":
        cmd = [sys.executable, "-m", "bazaar.cli", "serve", "--port", str(port), "--workers", str(args.workers)]
    else:  # what `serve --workers N` runs after migrating: N uvicorn workers plus one `bazaar worker`
        cmd = [
            sys.executable, "-m", "uvicorn", "bazaar.web.app:create_app", "--factory", "--port", str(port),
            "--workers", str(args.workers), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    return subprocess.Popen(cmd, env=env, start_new_session=True)


async def wait_ready(base_url: str) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError("the server did not become ready")


def server_env(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    dsn = f"{args.pg_url.rstrip('/')}/{DATABASE}"
    env = {
        **os.environ,
        "BAZAAR_DATABASE_URL": dsn,
        "BAZAAR_RATE_LIMITS": "off",
        "BAZAAR_ACCESS_LOG": "false",
        "BAZAAR_LOG_LEVEL": "WARNING",
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
        "BAZAAR_DATA_DIR": str(RESULTS / "flash-data"),
    }
    if args.redis_url:
        env["BAZAAR_REDIS_URL"] = args.redis_url
        env["BAZAAR_REDIS_PREFIX"] = f"bench:{uuid.uuid4().hex[:8]}:"
    return dsn, env


async def measure(args: argparse.Namespace, dsn: str, base_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    results: dict[str, Any] = {"runs": []}
    try:
        tokens = await create_buyers(conn, args.buyers)
        await wait_ready(base_url)
        # Every buyer has held something once (a logged-in buyer's token is then in the session cache, as it
        # would be after browsing), and connection pools and code paths are warm.
        warm = await create_offer(conn, units=len(tokens), buckets=16)
        await fire(base_url, warm, tokens, args.concurrency)
        for buckets in args.buckets:
            flash_offer = await create_offer(conn, units=args.units, buckets=buckets)
            flash = await fire(base_url, flash_offer, tokens, args.concurrency)
            flash.update(await audit(conn, flash_offer, args.units))
            flash["rejected"] = flash["statuses"].get("409", 0)
            flash["reservations_per_s"] = round(flash["sold"] / flash["seconds"], 1)
            holds = tokens * args.sustained_rounds
            plenty = await create_offer(conn, units=len(holds), buckets=buckets)
            sustained = await fire(base_url, plenty, holds, args.concurrency)
            sustained.update(await audit(conn, plenty, len(holds)))
            sustained["reservations_per_s"] = round(sustained["sold"] / sustained["seconds"], 1)
            results["runs"].append({"buckets": buckets, "flash": flash, "sustained": sustained})
    finally:
        await conn.close()
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    version = asyncio.run(recreate_database(args.pg_url))
    dsn, env = server_env(args)
    subprocess.run([sys.executable, "-m", "bazaar.cli", "migrate"], env=env, check=True, capture_output=True)
    port = _free_port()
    procs = []
    if args.server == "uvicorn":
        procs.append(start_server(args, {**env, "BAZAAR_EMBEDDED_WORKERS": "false"}, port))
        procs.append(subprocess.Popen([sys.executable, "-m", "bazaar.cli", "worker"], env=env, start_new_session=True))
    else:
        procs.append(start_server(args, env, port))
    try:
        results = asyncio.run(measure(args, dsn, f"http://127.0.0.1:{port}"))
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    concurrency = min(args.concurrency, args.raw_connections)
    raw = asyncio.run(raw_single_row(dsn, concurrency=concurrency, updates=args.raw_updates))
    for entry in results["runs"]:
        entry["ratio_to_raw_single_row"] = round(entry["sustained"]["reservations_per_s"] / raw["per_s"], 3)
        in_process = asyncio.run(
            service_rate(dsn, buckets=entry["buckets"], reservations=args.buyers, concurrency=concurrency)
        )
        in_process["ratio_to_raw_single_row"] = round(in_process["per_s"] / raw["per_s"], 3)
        entry["in_process"] = in_process
        sql = asyncio.run(
            raw_reserve_sql(dsn, buckets=entry["buckets"], concurrency=concurrency, updates=args.raw_updates)
        )
        sql["ratio_to_raw_single_row"] = round(sql["per_s"] / raw["per_s"], 3)
        entry["reservation_sql"] = sql
    results.update(
        {
            "raw_single_row": raw,
            "postgres": version,
            "config": {k: v for k, v in vars(args).items() if k not in {"pg_url", "redis_url"}},
            "redis": bool(args.redis_url),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "at": datetime.now(UTC).isoformat(),
        }
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1")
    parser.add_argument("--redis-url", default=None, help="production column: sold-out flags and carts in Redis")
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=128, help="requests in flight")
    parser.add_argument("--buckets", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", choices=["serve", "uvicorn"], default="serve")
    parser.add_argument("--raw-connections", type=int, default=64, help="PostgreSQL connections for the raw loop")
    parser.add_argument("--raw-updates", type=int, default=20000)
    parser.add_argument("--sustained-rounds", type=int, default=3, help="sustained holds per buyer")
    args = parser.parse_args()
    results = run(args)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "flash_sale.json").write_text(json.dumps(results, indent=2))
    raw = results["raw_single_row"]
    print(f"raw single-row conditional UPDATE: {raw['per_s']:.0f}/s ({raw['updates']} updates)")
    for entry in results["runs"]:
        f, s = entry["flash"], entry["sustained"]
        print(
            f"N={entry['buckets']:>2} flash: sold {f['sold']} oversold {f['oversold']} rejected {f['rejected']}"
            f" other {sum(v for k, v in f['statuses'].items() if k not in {'201', '409'})}"
            f" p50 {f['p50_ms']} ms p99 {f['p99_ms']} ms {f['requests_per_s']} req/s"
            f" | sustained: {s['reservations_per_s']} reservations/s p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms"
            f" | ratio to raw {entry['ratio_to_raw_single_row']}"
            f" | in-process service: {entry['in_process']['per_s']}/s"
            f" (ratio {entry['in_process']['ratio_to_raw_single_row']})"
            f" | general-path SQL alone: {entry['reservation_sql']['per_s']}/s"
            f" (ratio {entry['reservation_sql']['ratio_to_raw_single_row']})"
        )


if __name__ == "__main__":
    main()
