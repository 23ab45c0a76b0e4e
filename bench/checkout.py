"""Checkout (issue 5): checkouts/s and latency of POST /api/v1/checkout on PostgreSQL with `serve --workers 2`.

    .venv/bin/python bench/checkout.py [--pg-url postgresql://postgres@127.0.0.1] [--redis-url redis://…/5]

On a fresh PostgreSQL database (dropped at the end): SELLERS sellers with OFFERS offers each, every offer with
plenty of stock (no stock conflicts skew the figures); then for each provider mode (`in-process`: the sandbox
inside every web process, sharing one SQLite file; `process`: `bazaar sandbox-payments` as its own process,
reached over loopback HTTP through BAZAAR_PAYMENT_PROVIDER_URL) and each injected provider latency (0 and 100 ms):
  - a fresh `bazaar serve --workers 2` (rate limits and access log off) and a fresh sandbox data directory;
  - buyers inserted directly with bearer tokens, each cart filled with 1-3 lines through the API;
  - a warm-up, then one checkout per buyer at each concurrency (4, 16 and 32 in flight): a unique Idempotency-Key,
    the approving card 4242 4242 4242 4242; latency and status of each;
  - the database is audited: orders == 201 answers, every checkout finished, no hold left `held` for a finished
    checkout, every authorized payment has an order, no stock oversold.
Prints a summary, the throughput ratio 100 ms / 0 ms per mode and concurrency, and writes bench/results/checkout.json.
`--hot-offer --latencies 0 500`: every cart holds the same offer, so every checkout updates one stock row; were that
row (or anything shared) locked across the provider call, checkouts/s could not pass 1 / latency (2/s at 500 ms).
The capture worker's fraud-check delay is set past the run (--capture-delay), so captures of one phase do not load
the next; the checkout path makes one provider call (the authorization). At the end of each phase its payments are
made due at once and what capturing them costs is measured on its own (`captures`; --no-captures skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bazaar.kernel.ids import new_id, new_secret

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
import _accounting as acc
from _http import request, run_pool
from flash_sale import _free_port, _percentile

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE = "bazaar_bench_checkout"  # --database names another (engineers sharing a server each use their own)
ADDRESS = {"name": "Bench Buyer", "line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "78701",
           "country": "US"}  # fmt: skip
CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}


async def recreate_database(pg_url: str, *, database: str = DATABASE, drop_only: bool = False) -> str:
    conn = await asyncpg.connect(f"{pg_url.rstrip('/')}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{database}"')
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def create_catalog(conn: asyncpg.Connection, *, sellers: int, offers_per_seller: int, units: int) -> list[str]:
    """Sellers, each with products and one offer per product holding `units` units (one stock bucket each)."""
    now = datetime.now(UTC)
    category = new_id()
    await conn.execute(
        "INSERT INTO categories (id, slug, name, path, depth, position) VALUES ($1,$2,'Bench','/',0,0)",
        category, f"bench-{category.lower()}",
    )  # fmt: skip
    users, shops, products, skus, offers, stock = [], [], [], [], [], []
    for s in range(sellers):
        user_id, seller_id = new_id(), new_id()
        users.append((user_id, f"seller{s}-{user_id}@bench.example", f"Seller {s}", "x", False, now))
        shops.append((seller_id, user_id, f"Bench Shop {s}", now))
        for n in range(offers_per_seller):
            product_id, sku_id, offer_id = new_id(), new_id(), new_id()
            products.append((product_id, f"Bench Gadget {s}-{n}", category, 200 + 50 * n, now))
            skus.append((sku_id, product_id, now))
            price = 999 + 250 * ((s * offers_per_seller + n) % 40)
            offers.append((offer_id, sku_id, product_id, seller_id, price, 499, now))
            stock.append((offer_id, units))
    await conn.executemany(
        "INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES ($1,$2,$3,$4,$5,$6)", users
    )
    await conn.executemany(
        "INSERT INTO sellers (id, user_id, display_name, rating_average, rating_count, created_at)"
        " VALUES ($1,$2,$3,0,0,$4)",
        shops,
    )
    await conn.executemany(
        "INSERT INTO products (id, title, description, brand, category_id, attributes, rating_average, rating_count,"
        " tax_category, weight_grams, created_at, updated_at)"
        " VALUES ($1,$2,'','Acme',$3,'{}',0,0,'general',$4,$5,$5)",
        products,
    )
    await conn.executemany("INSERT INTO skus (id, product_id, attributes, created_at) VALUES ($1,$2,'{}',$3)", skus)
    await conn.executemany(
        "INSERT INTO offers (id, sku_id, product_id, seller_id, price_amount, shipping_amount, currency, condition,"
        " status, bucket_count, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,'USD','new','active',1,$7,$7)",
        offers,
    )
    await conn.executemany(
        "INSERT INTO stock_buckets (offer_id, bucket, on_hand, available) VALUES ($1,0,$2,$2)", stock
    )
    return [o[0] for o in offers]


async def create_buyers(conn: asyncpg.Connection, count: int, phase: str) -> list[tuple[str, str]]:
    """(user id, bearer token) per buyer, inserted directly (one shared password hash: nobody logs in)."""
    now = datetime.now(UTC)
    users, tokens, out = [], [], []
    for n in range(count):
        user_id, token = new_id(), new_secret()
        users.append((user_id, f"{phase}-{n}-{user_id}@bench.example", f"Buyer {n}", "bench-no-login", False, now))
        tokens.append((new_id(), user_id, hashlib.sha256(token.encode()).hexdigest(), now, now + timedelta(days=1)))
        out.append((user_id, token))
    await conn.executemany(
        "INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES ($1,$2,$3,$4,$5,$6)", users
    )
    await conn.executemany(
        "INSERT INTO auth_tokens (id, user_id, token_hash, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)", tokens
    )
    return out


async def fill_carts(
    base_url: str, buyers: list[tuple[str, str]], offers: list[str], rng: random.Random, *, hot: bool
) -> list[float]:
    """1-3 distinct offers, 1-2 units each, in every buyer's cart, through POST /api/v1/cart/items.
    `hot`: every cart holds offers[0] (one stock row all checkouts update) plus 0-2 others."""
    carts = []
    for _, token in buyers:
        lines = (
            [offers[0], *rng.sample(offers[1:], rng.randint(0, 2))] if hot else rng.sample(offers, rng.randint(1, 3))
        )
        carts.append([(token, json.dumps({"offer_id": o, "quantity": rng.randint(1, 2)}).encode()) for o in lines])

    async def add(reader: Any, writer: Any, host: str, job: tuple[str, bytes]) -> tuple[int, bytes]:
        return await request(reader, writer, host, "POST", "/api/v1/cart/items", token=job[0], body=job[1])

    # Every buyer's first add, then (once all are answered) every second one, then every third: a buyer adds one item
    # after another, as a person does (a buyer's adds in flight at once race for one cart, which no buyer does).
    results = []
    for n in range(3):
        jobs = [cart[n] for cart in carts if n < len(cart)]
        results += (await run_pool(base_url, jobs, min(16, len(jobs)), add))[0]
    failed = [(s, b[:200]) for _, s, b in results if s != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} cart additions failed, e.g. {failed[:3]}")
    return [r[0] for r in results]


async def fire(base_url: str, buyers: list[tuple[str, str]], concurrency: int) -> dict[str, Any]:
    """One checkout per buyer, `concurrency` connections each with one checkout in flight."""
    body = json.dumps({"shipping_address": ADDRESS, "shipping_method": "standard", "payment": CARD}).encode()

    async def checkout(reader: Any, writer: Any, host: str, job: tuple[str, str]) -> tuple[int, bytes]:
        headers = {"Idempotency-Key": f"bench-{uuid.uuid4().hex}"}
        return await request(reader, writer, host, "POST", "/api/v1/checkout", token=job[1], body=body, headers=headers)

    results, elapsed = await run_pool(base_url, buyers, concurrency, checkout)
    latencies = [r[0] for r in results]
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for _, status, answer in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status >= 400:
            try:
                code = json.loads(answer)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = answer[:80].decode(errors="replace")
            errors[code] = errors.get(code, 0) + 1
    return {
        "concurrency": concurrency,
        "checkouts": len(buyers),
        "statuses": dict(sorted(statuses.items())),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "checkouts_per_s": round(statuses.get("201", 0) / elapsed, 1),
        "mean_ms": round(sum(latencies) / len(latencies) * 1000, 1),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


async def fire_alone(base_url: str, buyers: list[tuple[str, str]]) -> dict[str, Any]:
    """One checkout at a time on one connection (so one web process serves them all), with that process's own
    count of the database transactions it began (`bazaar_db_transactions_total` in /metrics) before and after."""
    body = json.dumps({"shipping_address": ADDRESS, "shipping_method": "standard", "payment": CARD}).encode()
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def began() -> dict[str, float]:
        _, text = await request(reader, writer, host, "GET", "/metrics")
        counts: dict[str, float] = {}
        for line in text.decode().splitlines():
            if line.startswith("bazaar_db_transactions_total{"):
                kind = line.split('kind="', 1)[1].split('"', 1)[0]
                counts[kind] = float(line.rsplit(" ", 1)[1])
        return counts

    try:
        first, before = await began(), await began()
        reading = {k: before.get(k, 0.0) - first.get(k, 0.0) for k in before}  # what one /metrics read begins
        latencies, statuses = [], {}
        for _, token in buyers:
            headers = {"Idempotency-Key": f"bench-{uuid.uuid4().hex}"}
            started = time.perf_counter()
            status, _ = await request(
                reader, writer, host, "POST", "/api/v1/checkout", token=token, body=body, headers=headers
            )
            latencies.append(time.perf_counter() - started)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        after = await began()
    finally:
        writer.close()
    return {
        "statuses": statuses,
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "transactions_begun_per_checkout": {
            k: round((after.get(k, 0.0) - before.get(k, 0.0) - reading.get(k, 0.0)) / len(buyers), 2) for k in after
        },
    }


async def audit(conn: asyncpg.Connection, user_ids: list[str], created: int) -> dict[str, Any]:
    """What the database says about these buyers' checkouts; every `violations` figure must be 0."""
    by_status = {
        r["status"]: r["n"]
        for r in await conn.fetch(
            "SELECT status, count(*) AS n FROM checkouts WHERE user_id = ANY($1) GROUP BY status", user_ids
        )
    }
    orders = await conn.fetchval("SELECT count(*) FROM orders WHERE user_id = ANY($1)", user_ids)
    held = await conn.fetchval(
        "SELECT count(*) FROM reservations r JOIN checkouts c ON c.id = r.checkout_id"
        " WHERE c.user_id = ANY($1) AND c.status IN ('completed', 'failed') AND r.status = 'held'",
        user_ids,
    )
    orphan_payments = await conn.fetchval(
        "SELECT count(*) FROM payments p JOIN checkouts c ON c.id = p.checkout_id"
        " WHERE c.user_id = ANY($1) AND p.status = 'authorized'"
        " AND (p.order_id IS NULL OR NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = p.order_id))",
        user_ids,
    )
    payments = {
        r["status"]: r["n"]
        for r in await conn.fetch(
            "SELECT p.status, count(*) AS n FROM payments p JOIN checkouts c ON c.id = p.checkout_id"
            " WHERE c.user_id = ANY($1) GROUP BY p.status",
            user_ids,
        )
    }
    committed_without_order = await conn.fetchval(
        "SELECT count(*) FROM reservations r JOIN checkouts c ON c.id = r.checkout_id"
        " WHERE c.user_id = ANY($1) AND r.status = 'committed' AND c.order_id IS NULL",
        user_ids,
    )
    oversold = await conn.fetchval("SELECT count(*) FROM stock_buckets WHERE available < 0 OR available > on_hand")
    return {
        "checkouts_by_status": by_status,
        "orders": int(orders),
        "answered_201": created,
        "payments_by_status": payments,
        "violations": {
            "orders_not_201": abs(int(orders) - created),
            "unfinished_checkouts": sum(n for s, n in by_status.items() if s not in ("completed", "failed")),
            "held_reservations_of_finished_checkouts": int(held),
            "authorized_payments_without_order": int(orphan_payments),
            "committed_reservations_without_order": int(committed_without_order),
            "stock_buckets_out_of_range": int(oversold),
        },
    }


def _env(args: argparse.Namespace, dsn: str, data_dir: Path, latency_ms: int, src: str | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "BAZAAR_DATABASE_URL": dsn,
        "BAZAAR_RATE_LIMITS": "off",
        "BAZAAR_ACCESS_LOG": "false",
        "BAZAAR_LOG_LEVEL": "WARNING",
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
        "BAZAAR_DATA_DIR": str(data_dir),
        "BAZAAR_PAYMENT_SANDBOX_LATENCY_MS": str(latency_ms),
        "BAZAAR_CAPTURE_DELAY_SECONDS": str(args.capture_delay),
        # The request path is measured with the worker paused on purpose: the supervisor must not take it for hung.
        "BAZAAR_SUPERVISOR_HANG_SECONDS": "900",
        "BAZAAR_WORKER_STALE_SECONDS": "900",
    }
    if src:  # another version of the code (a baseline): its package shadows the installed one
        env["PYTHONPATH"] = src
    if args.redis_url:
        env["BAZAAR_REDIS_URL"] = args.redis_url
        env["BAZAAR_REDIS_PREFIX"] = f"bench:{uuid.uuid4().hex[:8]}:"
    return env


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child in its own process group (serve's workers included), so _stop ends all of it."""
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL)


def _migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "bazaar.cli", "migrate"], env=env, check=True, capture_output=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def wait_ready(base_url: str, *, within: float = 240.0) -> None:
    """Until /readyz answers 200 (on a machine shared by eight test suites a start can take minutes)."""
    host, port = base_url.removeprefix("http://").split(":")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            status, _ = await request(reader, writer, host, "GET", "/readyz")
            writer.close()
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError("the server did not become ready")


async def _wait_http(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            status, _ = await request(reader, writer, host, "GET", "/healthz")
            writer.close()
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def _drained(conn: asyncpg.Connection, *, within: float = 90.0) -> float:
    """Wait until the worker has relayed every outbox row and the consumers stopped writing inbox rows."""
    started, steady, last = time.monotonic(), 0, -1
    while time.monotonic() - started < within:
        await asyncio.sleep(0.5)
        backlog = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        handled = await conn.fetchval("SELECT count(*) FROM inbox")
        steady = steady + 1 if backlog == 0 and handled == last else 0
        last = handled
        if steady >= 3:
            break
    return time.monotonic() - started


async def capture_all(conn: asyncpg.Connection, groups: list[int], idle: acc.Idle) -> dict[str, Any]:
    """What capturing costs: every payment this phase authorized for an order is made due at once (the fraud-check
    delay is set past the run), and the window runs until none is left authorized (or none was captured for 30 s)
    and the worker has drained what the captures set off (the order moved to `processing`, the ledger's postings,
    notifications, seller figures). A payment without an order is left to the audit that follows."""
    due = await conn.fetchval(_COUNT_DUE)
    if not due:
        return {}
    await _drained(conn)
    # Due a little after PostgreSQL's stats have taken in the bench's own UPDATE, which is not a capture's cost.
    await conn.execute(_MAKE_DUE, timedelta(seconds=acc.STATS_FLUSH_SECONDS + 4))
    await asyncio.sleep(acc.STATS_FLUSH_SECONDS)
    before = await acc.snapshot(conn, groups)
    left, last_change = int(due), time.monotonic()
    while left and time.monotonic() - last_change < 30:
        await asyncio.sleep(1.0)  # each poll is a transaction in pg_stat: few of them
        now_left = await conn.fetchval(_COUNT_DUE)
        if now_left != left:
            left, last_change = now_left, time.monotonic()
    captured_in = time.monotonic() - before.at
    await _drained(conn)
    done = acc.cpu_snapshot(groups)
    await asyncio.sleep(acc.STATS_FLUSH_SECONDS)
    still_pending = await conn.fetchval(
        "SELECT count(*) FROM orders o JOIN payments p ON p.order_id = o.id"
        " WHERE p.status = 'captured' AND o.status = 'pending'"
    )
    captured = int(due) - int(left)
    return {
        "payments": int(due),
        "captured": captured,
        "captured_per_s": round(captured / captured_in, 1),
        "orders_left_pending": int(still_pending),
        "per_capture": acc.cost(before, await acc.snapshot(conn, groups), idle, max(captured, 1), cpu_until=done),
    }


# Authorized payments of an order that exists: what the capture worker takes once they are due.
_OF_AN_ORDER = "p.status = 'authorized' AND EXISTS (SELECT 1 FROM orders o WHERE o.id = p.order_id)"
_COUNT_DUE = f"SELECT count(*) FROM payments p WHERE {_OF_AN_ORDER}"  # noqa: S608 (constants only)
_MAKE_DUE = f"UPDATE payments p SET capture_after = now() + $1::interval WHERE {_OF_AN_ORDER}"  # noqa: S608


async def phase(
    args: argparse.Namespace,
    dsn: str,
    offers: list[str],
    *,
    mode: str,
    latency_ms: int,
    rng: random.Random,
    variant: str = "current",
    src: str | None = None,
) -> dict[str, Any]:
    """One server (and sandbox) configuration: warm-up, idle, cart adds, each concurrency, the request path
    alone (worker paused), then the audit."""
    data_dir = RESULTS / "checkout-data" / f"{variant}-{mode}-{latency_ms}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = _env(args, dsn, data_dir, latency_ms, src)
    procs: list[subprocess.Popen[bytes]] = []
    accounting: dict[str, Any] = {}
    try:
        if mode == "process":
            provider = f"http://127.0.0.1:{_free_port()}"
            cmd = [sys.executable, "-m", "bazaar.cli", "sandbox-payments", "--port", provider.rsplit(":", 1)[1]]
            procs.append(_spawn(cmd, env))
            await _wait_http(provider)
            env["BAZAAR_PAYMENT_PROVIDER_URL"] = provider
        port = _free_port()
        cmd = [sys.executable, "-m", "bazaar.cli", "serve", "--port", str(port), "--workers", str(args.workers)]
        procs.append(_spawn(cmd, env))
        groups = [p.pid for p in procs]
        base_url = f"http://127.0.0.1:{port}"
        conn = await asyncpg.connect(dsn)
        try:
            name = f"{variant}{mode}{latency_ms}"
            warm = await create_buyers(conn, args.warmup, f"{name}-warm")
            runs_buyers = [await create_buyers(conn, args.checkouts, f"{name}-c{c}") for c in args.concurrency]
            solo = await create_buyers(conn, args.accounting, f"{name}-solo") if args.accounting else []
            await wait_ready(base_url)
            await fill_carts(base_url, warm, offers, rng, hot=args.hot_offer)
            load_before = os.getloadavg()
            await fire(base_url, warm, min(args.concurrency))
            idle = await acc.measure_idle(conn, groups, args.idle_seconds)

            # Adding to the cart: every measured buyer's cart, 16 adds in flight.
            before = await acc.snapshot(conn, groups)
            add_latencies: list[float] = []
            for buyers in [*runs_buyers, solo]:
                add_latencies += await fill_carts(base_url, buyers, offers, rng, hot=args.hot_offer)
            added = acc.cpu_snapshot(groups)
            await asyncio.sleep(acc.STATS_FLUSH_SECONDS)
            cart_add = {
                "adds": len(add_latencies),
                "p50_ms": round(_percentile(add_latencies, 50) * 1000, 1),
                "p99_ms": round(_percentile(add_latencies, 99) * 1000, 1),
                "per_add": acc.cost(
                    before, await acc.snapshot(conn, groups), idle, len(add_latencies), cpu_until=added
                ),
            }

            runs = []
            for concurrency, buyers in zip(args.concurrency, runs_buyers, strict=True):
                before = await acc.snapshot(conn, groups)
                run = await fire(base_url, buyers, concurrency)
                await _drained(conn)  # the worker done with what they set off: the CPU window ends here
                done = acc.cpu_snapshot(groups)
                await asyncio.sleep(acc.STATS_FLUSH_SECONDS)
                run["per_checkout"] = acc.cost(
                    before, await acc.snapshot(conn, groups), idle, len(buyers), cpu_until=done
                )
                run["load_average_1m_after"] = round(os.getloadavg()[0], 2)
                runs.append(run)

            if solo:
                # The request path alone: the worker paused (SIGSTOP), one checkout at a time; then the worker
                # resumed and left to handle what those checkouts set off (relay, consumers).
                workers = acc.pids_of(groups, "worker")
                for pid in workers:
                    os.kill(pid, signal.SIGSTOP)
                try:
                    web_idle = await acc.measure_idle(conn, groups, min(args.idle_seconds, 3.0))
                    before = await acc.snapshot(conn, groups)
                    stop_sampling = asyncio.Event()
                    sampler = asyncio.create_task(acc.sample_queries(dsn, stop_sampling)) if args.sample else None
                    solo_run = await fire_alone(base_url, solo)
                    stop_sampling.set()
                    if sampler is not None:
                        accounting_queries = await sampler
                    answered = acc.cpu_snapshot(groups)
                    await asyncio.sleep(acc.STATS_FLUSH_SECONDS)
                    middle = await acc.snapshot(conn, groups)
                finally:
                    for pid in workers:
                        os.kill(pid, signal.SIGCONT)
                drain_s = await _drained(conn)
                drained = acc.cpu_snapshot(groups)
                await asyncio.sleep(acc.STATS_FLUSH_SECONDS)
                after = await acc.snapshot(conn, groups)
                accounting = {
                    "checkouts": len(solo),
                    "statuses": solo_run["statuses"],
                    "p50_ms_alone": solo_run["p50_ms"],
                    "transactions_begun_by_the_web_process": solo_run["transactions_begun_per_checkout"],
                    "request_path": acc.cost(before, middle, web_idle, len(solo), kinds={"web"}, cpu_until=answered),
                    "after_the_request": acc.cost(middle, after, idle, len(solo), kinds={"worker"}, cpu_until=drained),
                    "drain_seconds": round(drain_s, 1),
                }
                if args.sample:
                    accounting["queries_seen"] = accounting_queries
            captures = await capture_all(conn, groups, idle) if args.captures else {}
            await asyncio.sleep(1)  # let in-flight bookkeeping land before the audit
            all_buyers = [u for u, _ in warm] + [u for b in [*runs_buyers, solo] for u, _ in b]
            created = sum(r["statuses"].get("201", 0) for r in runs)
            created += accounting.get("statuses", {}).get("201", 0)
            warm_created = await conn.fetchval(
                "SELECT count(*) FROM orders WHERE user_id = ANY($1)", [u for u, _ in warm]
            )
            checked = await audit(conn, all_buyers, created + int(warm_created))
        finally:
            await conn.close()
    finally:
        _stop(procs)
    return {
        "variant": variant,
        "src": src,
        "provider": mode,
        "latency_ms": latency_ms,
        "load_average_before": [round(x, 2) for x in load_before],
        "idle": idle.as_dict(),
        "cart_add": cart_add,
        "runs": runs,
        "request_path_alone": accounting,
        "captures": captures,
        "audit": checked,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    version = await recreate_database(args.pg_url, database=args.database)
    dsn = f"{args.pg_url.rstrip('/')}/{args.database}"
    env = _env(args, dsn, RESULTS / "checkout-data" / "migrate", 0)
    _migrate(env)
    conn = await asyncpg.connect(dsn)
    try:
        offers = await create_catalog(conn, sellers=args.sellers, offers_per_seller=args.offers, units=args.units)
    finally:
        await conn.close()
    rng = random.Random(args.seed)
    variants: list[tuple[str, str | None]] = [("current", None)]
    if args.baseline_src:
        variants.append(("baseline", args.baseline_src))  # absolute: main() resolves it
    phases, floors = [], []
    try:
        for round_no in range(args.rounds):
            # Alternate which version goes first, so a neighbour's burst does not always land on the same one.
            for variant, src in variants if round_no % 2 else list(reversed(variants)):
                for mode in args.providers:
                    for latency in args.latencies:
                        phases.append(
                            await phase(
                                args, dsn, offers, mode=mode, latency_ms=latency, rng=rng, variant=variant, src=src
                            )
                        )
                        phases[-1]["round"] = round_no
                        print(_phase_line(phases[-1]), flush=True)
        if args.floor_seconds:
            conn = await asyncpg.connect(dsn)
            try:
                for concurrency in args.concurrency:
                    floors.append(
                        await acc.run_floor(
                            conn, dsn, user_id=new_id(), clients=concurrency, seconds=args.floor_seconds
                        )
                    )
                    print(_floor_line(floors[-1]), flush=True)
            finally:
                await conn.close()
    finally:
        if not args.keep_database:
            await recreate_database(args.pg_url, database=args.database, drop_only=True)
            shutil.rmtree(RESULTS / "checkout-data", ignore_errors=True)
    floor_by_c = {f["clients"]: f["per_s"] for f in floors}
    for p in phases:
        for run in p["runs"]:
            if run["concurrency"] in floor_by_c:
                run["floor_ratio"] = round(run["checkouts_per_s"] / floor_by_c[run["concurrency"]], 4)
    ratios = []
    for mode in args.providers:
        by_latency = {p["latency_ms"]: p for p in phases if p["provider"] == mode and p["variant"] == "current"}
        if 0 in by_latency and 100 in by_latency:
            for base, slow in zip(by_latency[0]["runs"], by_latency[100]["runs"], strict=True):
                ratio = slow["checkouts_per_s"] / base["checkouts_per_s"] if base["checkouts_per_s"] else 0.0
                # With nothing locked across the call, each checkout just waits 0.1 s longer: at a fixed number in
                # flight, Little's law predicts c / (mean + 0.1 s); more if the added wait also shortens CPU queues.
                expected = base["concurrency"] / (base["mean_ms"] / 1000 + 0.1)
                ratios.append({
                    "provider": mode, "concurrency": base["concurrency"], "ratio_100ms_to_0ms": round(ratio, 3),
                    "checkouts_per_s_0ms": base["checkouts_per_s"], "checkouts_per_s_100ms": slow["checkouts_per_s"],
                    "added_wait_prediction_100ms": round(expected, 1),
                })  # fmt: skip
    return {
        "benchmark": "checkout",
        "hot_offer": args.hot_offer,
        "phases": phases,
        "floor": floors,
        "ratios": ratios,
        "postgres": version,
        "redis": bool(args.redis_url),
        "config": {k: v for k, v in vars(args).items() if k not in {"pg_url", "redis_url"}},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "at": datetime.now(UTC).isoformat(),
    }


def _cost_line(c: dict[str, Any]) -> str:
    return (
        f"CPU ms {c['cpu_ms']}, {c['transactions']} transactions ({c['rollbacks']} rolled back),"
        f" {c['rows_written']} rows written, machine {c['machine_cpu_busy_percent']}% busy"
    )


def _phase_line(p: dict[str, Any]) -> str:
    lines = [
        f"[{p['variant']}] provider {p['provider']:<10} latency {p['latency_ms']:>3} ms"
        f" (load before {p['load_average_before']}; idle {p['idle']})"
    ]
    ca = p["cart_add"]
    lines.append(
        f"  cart add x{ca['adds']}: p50 {ca['p50_ms']} ms p99 {ca['p99_ms']} ms; per add {_cost_line(ca['per_add'])}"
    )
    for r in p["runs"]:
        lines.append(
            f"  c={r['concurrency']:>2}: {r['checkouts_per_s']:>6} checkouts/s  p50 {r['p50_ms']} ms"
            f"  p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  max {r['max_ms']} ms  statuses {r['statuses']}"
            + (f"  errors {r['errors']}" if r["errors"] else "")
            + f"\n         per checkout: {_cost_line(r['per_checkout'])}"
            + f"\n         rows by table {r['per_checkout']['rows_by_table']}"
        )
    a = p["request_path_alone"]
    if a:
        lines.append(
            f"  alone (worker paused), x{a['checkouts']} at 1 in flight, p50 {a['p50_ms_alone']} ms, transactions"
            f" the web process began per checkout {a['transactions_begun_by_the_web_process']}:"
            f"\n         request path: {_cost_line(a['request_path'])}"
            f"\n         afterwards (worker, {a['drain_seconds']} s): {_cost_line(a['after_the_request'])}"
        )
    c = p.get("captures")
    if c:
        lines.append(
            f"  captures {c['captured']} of {c['payments']} ({c['captured_per_s']}/s,"
            f" orders left pending {c['orders_left_pending']}):"
            f"\n         per capture: {_cost_line(c['per_capture'])}"
            f"\n         rows by table {c['per_capture']['rows_by_table']}"
        )
    au = p["audit"]
    bad = {k: v for k, v in au["violations"].items() if v}
    lines.append(
        f"  audit: orders {au['orders']} / 201s {au['answered_201']}, checkouts {au['checkouts_by_status']},"
        f" payments {au['payments_by_status']}, " + (f"VIOLATIONS {bad}" if bad else "no violations")
    )
    return "\n".join(lines)


def _floor_line(f: dict[str, Any]) -> str:
    return (
        f"floor (pgbench, only what a checkout must write) c={f['clients']}: {f['per_s']}/s,"
        f" {f['transactions']} transactions and {f['rows_written']} rows written each,"
        f" machine {f['machine_cpu_busy_percent']}% busy"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1")
    parser.add_argument("--database", default=DATABASE, help="created and dropped by the run")
    parser.add_argument("--redis-url", default=None, help="production column: cache, carts and events in Redis")
    parser.add_argument("--providers", nargs="+", choices=["in-process", "process"], default=["in-process", "process"])
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 100], help="injected provider latency, ms")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16, 32], help="checkouts in flight")
    parser.add_argument("--checkouts", type=int, default=300, help="checkouts per concurrency level")
    parser.add_argument("--warmup", type=int, default=48)
    parser.add_argument("--accounting", type=int, default=20, help="checkouts one at a time with the worker paused")
    parser.add_argument("--idle-seconds", type=float, default=8.0, help="idle window whose cost is subtracted")
    parser.add_argument("--floor-seconds", type=int, default=10, help="pgbench floor per concurrency; 0: none")
    parser.add_argument("--baseline-src", default=None, help="a src/ directory of another version to compare with")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every phase (alternating versions)")
    parser.add_argument("--sellers", type=int, default=50)
    parser.add_argument("--offers", type=int, default=8, help="offers per seller")
    parser.add_argument("--units", type=int, default=1_000_000, help="stock per offer")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--capture-delay", type=int, default=3600, help="BAZAAR_CAPTURE_DELAY_SECONDS for the run")
    parser.add_argument(
        "--captures", action=argparse.BooleanOptionalAction, default=True,
        help="at the end of each phase, capture what it authorized and measure what that costs",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--hot-offer",
        action="store_true",
        help="every cart holds one shared offer: if its stock row stayed locked across the provider call,"
        " checkouts/s could not exceed 1 / latency (writes checkout_hot.json)",
    )
    parser.add_argument("--keep-database", action="store_true", help="leave the database for inspection")
    parser.add_argument("--out", default=None, help="results file name under bench/results")
    parser.add_argument("--sample", action="store_true", help="sample pg_stat_activity during the request path run")
    args = parser.parse_args()
    if args.baseline_src:
        args.baseline_src = str(Path(args.baseline_src).resolve())
    results = asyncio.run(measure(args))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (args.out or ("checkout_hot.json" if args.hot_offer else "checkout.json"))
    out.write_text(json.dumps(results, indent=2))
    for r in results["ratios"]:
        print(
            f"{r['provider']:<10} c={r['concurrency']:>2}: 100 ms / 0 ms throughput ratio {r['ratio_100ms_to_0ms']}"
            f" ({r['checkouts_per_s_100ms']} vs {r['checkouts_per_s_0ms']} checkouts/s;"
            f" c / (mean latency at 0 ms + 0.1 s) = {r['added_wait_prediction_100ms']}/s)"
        )
    for p in results["phases"]:
        for r in p["runs"]:
            if "floor_ratio" in r:
                print(
                    f"[{p['variant']}] {p['provider']} {p['latency_ms']} ms c={r['concurrency']}:"
                    f" {r['checkouts_per_s']} checkouts/s = {r['floor_ratio']:.3f} of the floor"
                )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
