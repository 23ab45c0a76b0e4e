"""Soak (issue 21): a day of mixed traffic through the JSON API against `bazaar serve --workers N`, PostgreSQL + Redis.

    .venv/bin/python bench/soak.py --seconds 1800 --shoppers 32 --products 50000 --workers 2
    .venv/bin/python bench/soak.py --seconds 45 --shoppers 8 --products 400       # the short form CI runs

Each shopper is a closed loop on its own kept-alive connection (no think time unless --think-ms): 60 % searches
(words from the catalog's titles, some with a category or brand filter, some browsing by sort), 25 % product pages,
10 % cart adds (a new offer while the cart has fewer than 3 lines, else one more unit of one of them), 5 % checkouts
(the cart's 1-3 lines, the approving card 4242…, a fresh Idempotency-Key; an empty cart is filled first). Reported:
per endpoint p50/p99 (after the warm-up, and for the whole run) and status counts, each server process's RSS over
time and CPU per request (from /proc), PostgreSQL deadlocks in the soak database (`pg_stat_database`), the load
average. A write turned away by admission control (503 `overloaded`, Retry-After) is asked again after the pause,
as a client should, and counted apart as `503_shed`. Writes bench/results/soak.json (or --out) and exits 1 on any
other 5xx, any dropped connection or any deadlock
(`--enforce-budgets` also on a missed read budget: product page p99 > 150 ms, search p99 > 300 ms).

The database (`--database`, default bazaar_soak) is dropped and seeded anew unless `--reuse` finds it seeded with
`--products` products (seeding 50,000 takes minutes); `--keep` leaves it for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from _http import request
from checkout import ADDRESS, CARD, create_buyers
from flash_sale import _free_port, _percentile

RESULTS = Path(__file__).resolve().parent / "results"
MIX = (("search", 60), ("product", 25), ("cart_add", 10), ("checkout", 5))
BUDGETS_MS = {"product": 150.0, "search": 300.0}  # p99, from the seed's read budgets
SORTS = ("relevance", "price_asc", "price_desc", "rating", "newest")
SHED_RETRIES = 6  # a write turned away with 503 `overloaded` + Retry-After is asked again, as a client should
RETRY_AFTER_SECONDS = 1


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--warmup", type=float, default=None, help="seconds left out of the percentiles (default 10 %%)")
    p.add_argument("--shoppers", type=int, default=32)
    p.add_argument("--products", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--think-ms", type=float, default=0.0, help="pause between a shopper's requests")
    p.add_argument("--sample-seconds", type=float, default=10.0, help="RSS sampling period")
    p.add_argument("--pg-url", default=os.environ.get("BAZAAR_BENCH_PG_URL", "postgresql://postgres@127.0.0.1"))
    p.add_argument("--redis-url", default=os.environ.get("BAZAAR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"))
    p.add_argument("--database", default="bazaar_soak")
    p.add_argument("--reuse", action="store_true", help="keep an already seeded database of the same size")
    p.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    p.add_argument("--enforce-budgets", action="store_true")
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra server setting")
    return p.parse_args()


# --- the database and the server --------------------------------------------------------------------------------


async def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> str:
    """Create and seed the soak database (or keep a seeded one with --reuse); answers the server version."""
    admin = await asyncpg.connect(f"{args.pg_url.rstrip('/')}/postgres")
    try:
        version = str(await admin.fetchval("SHOW server_version"))
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", args.database)
        if exists and args.reuse:
            conn = await asyncpg.connect(env["BAZAAR_DATABASE_URL"])
            try:
                seeded = await conn.fetchval("SELECT count(*) FROM products")
            except asyncpg.PostgresError:
                seeded = 0
            finally:
                await conn.close()
            if seeded == args.products and (Path(env["BAZAAR_DATA_DIR"]) / "search").exists():
                return version
        await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{args.database}"')
    finally:
        await admin.close()
    shutil.rmtree(env["BAZAAR_DATA_DIR"], ignore_errors=True)
    started = time.monotonic()
    cmd = [sys.executable, "-m", "bazaar.cli", "seed", "--products", str(args.products), "--quiet"]
    await asyncio.to_thread(subprocess.run, cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"seeded {args.products} products in {time.monotonic() - started:.0f} s", flush=True)
    return version


async def drop_database(args: argparse.Namespace) -> None:
    admin = await asyncpg.connect(f"{args.pg_url.rstrip('/')}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    finally:
        await admin.close()


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = {
        **os.environ,
        "BAZAAR_DATABASE_URL": f"{args.pg_url.rstrip('/')}/{args.database}",
        "BAZAAR_REDIS_URL": args.redis_url,
        "BAZAAR_REDIS_PREFIX": f"soak:{uuid.uuid4().hex[:8]}:",
        "BAZAAR_DATA_DIR": str(RESULTS / f"soak-data-{args.database}"),
        "BAZAAR_RATE_LIMITS": "off",
        "BAZAAR_ACCESS_LOG": "false",
        "BAZAAR_LOG_LEVEL": "WARNING",
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
    }
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    return env


async def wait_ready(base_url: str, server: subprocess.Popen[bytes], within: float = 180) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            # /healthz, not /readyz: a database kept from an earlier run (--reuse) may hold a backlog of events
            # that /readyz rightly reports as stuck until the worker has caught up.
            status, _ = await request(reader, writer, host, "GET", "/healthz")
            writer.close()
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{base_url} was not ready after {within:.0f} s")


def start_server(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`bazaar serve` in its own process group (its web processes and worker with it), logging to `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)


def stop(server: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def processes(group: int) -> dict[int, tuple[str, int, float]]:
    """pid -> (role, RSS bytes, CPU seconds) of every process in the server's process group."""
    tick, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    found: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != group:
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            rss = int((entry / "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        if "cli worker" in cmdline or cmdline.rstrip().endswith(" worker"):
            role = "worker"
        elif "cli serve" in cmdline:
            role = "supervisor"
        elif "resource_tracker" in cmdline:
            role = "tracker"
        else:
            role = "web"
        found[int(entry.name)] = (role, rss, (int(fields[11]) + int(fields[12])) / tick)
    return found


async def deadlocks(args: argparse.Namespace) -> int:
    conn = await asyncpg.connect(f"{args.pg_url.rstrip('/')}/postgres")
    try:
        return int(await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = $1", args.database))
    finally:
        await conn.close()


# --- what shoppers ask for ----------------------------------------------------------------------------------------


class Catalog:
    """Ids and words sampled from the seeded catalog, so requests look like a real day's."""

    def __init__(self, products: list[str], offers: list[str], words: list[str], categories: list[str],
                 brands: list[str]) -> None:  # fmt: skip
        self.products, self.offers, self.words = products, offers, words
        self.categories, self.brands = categories, brands

    @classmethod
    async def sample(cls, dsn: str, rng: random.Random) -> Catalog:
        conn = await asyncpg.connect(dsn)
        try:
            products = [r[0] for r in await conn.fetch("SELECT id FROM products ORDER BY random() LIMIT 5000")]
            offers = [
                r[0]
                for r in await conn.fetch(
                    "SELECT o.id FROM offers o JOIN stock_buckets b ON b.offer_id = o.id WHERE o.status = 'active'"
                    " GROUP BY o.id HAVING sum(b.available) >= 20 ORDER BY random() LIMIT 5000"
                )
            ]
            titles = [r[0] for r in await conn.fetch("SELECT title FROM products ORDER BY random() LIMIT 2000")]
            categories = [r[0] for r in await conn.fetch("SELECT id FROM categories")]
            brands = [r[0] for r in await conn.fetch("SELECT DISTINCT brand FROM products LIMIT 200")]
        finally:
            await conn.close()
        counts = Counter(w.lower() for t in titles for w in re.findall(r"[A-Za-z]{4,}", t))
        words = [w for w, _ in counts.most_common(300)]
        if not (products and offers and words):
            raise RuntimeError("the catalog is empty: nothing to shop for")
        return cls(products, offers, words, categories, brands)

    def search_path(self, rng: random.Random) -> str:
        roll = rng.random()
        page = rng.choice((1, 1, 1, 2, 3))
        if roll < 0.10:  # browsing a department, by a sort
            return f"/api/v1/search?category={rng.choice(self.categories)}&sort={rng.choice(SORTS)}&page={page}"
        q = " ".join(rng.sample(self.words, rng.choice((1, 1, 2))))
        path = f"/api/v1/search?q={q.replace(' ', '+')}&page={page}"
        if roll < 0.25:
            path += f"&category={rng.choice(self.categories)}"
        elif roll < 0.35 and self.brands:
            path += f"&brand={rng.choice(self.brands).replace(' ', '+').replace('&', '%26')}"
        elif roll < 0.45:
            path += "&in_stock=true&sort=price_asc"
        return path


class Shopper:
    def __init__(self, token: str, catalog: Catalog, rng: random.Random, record: Any) -> None:
        self.token, self.catalog, self.rng, self.record = token, catalog, rng, record
        self.address: tuple[str, int] = ("127.0.0.1", 0)  # the server's, set by whoever opens the connections
        self.cart: set[str] = set()

    async def _call(self, conn: Any, endpoint: str, method: str, path: str, body: Any = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
        reader, writer = conn
        payload = json.dumps(body).encode() if body is not None else b""
        for _ in range(SHED_RETRIES):
            started = time.perf_counter()
            if writer.is_closing():  # the server asked for a new connection (Connection: close)
                reader, writer = await asyncio.open_connection(*self.address)
                conn[:] = [reader, writer]
            status, answer = await request(reader, writer, "127.0.0.1", method, path, token=self.token,
                                           body=payload, headers=headers)  # fmt: skip
            shed = status == 503 and b'"overloaded"' in answer
            self.record(endpoint, status, time.perf_counter() - started, shed)
            if not shed:
                break
            # Turned away by admission control (nothing happened): do as Retry-After says, then ask again.
            await asyncio.sleep(RETRY_AFTER_SECONDS * self.rng.uniform(1, 2))
        return status, answer

    async def add_to_cart(self, conn: Any) -> None:
        if len(self.cart) < 3:
            offer = self.rng.choice(self.catalog.offers)
        else:
            offer = self.rng.choice(sorted(self.cart))
        status, _ = await self._call(conn, "cart_add", "POST", "/api/v1/cart/items", {"offer_id": offer, "quantity": 1})
        if status == 200:
            self.cart.add(offer)

    async def checkout(self, conn: Any) -> None:
        while not self.cart:
            for _ in range(self.rng.randint(1, 3)):
                await self.add_to_cart(conn)
        body = {"shipping_address": ADDRESS, "shipping_method": "standard", "payment": CARD}
        status, _ = await self._call(conn, "checkout", "POST", "/api/v1/checkout", body,
                                     {"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        if status in (201, 202):
            self.cart.clear()
        else:  # start over with another cart, as a shopper would after a refusal
            await self.empty_cart(conn)

    async def empty_cart(self, conn: Any) -> None:
        status, answer = await self._call(conn, "cart_other", "GET", "/api/v1/cart")
        for item in json.loads(answer).get("items", []) if status == 200 else []:
            await self._call(conn, "cart_other", "DELETE", f"/api/v1/cart/items/{item['id']}")
        self.cart.clear()

    async def step(self, conn: Any) -> None:
        kind = self.rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        if kind == "search":
            await self._call(conn, "search", "GET", self.catalog.search_path(self.rng))
        elif kind == "product":
            await self._call(conn, "product", "GET", f"/api/v1/products/{self.rng.choice(self.catalog.products)}")
        elif kind == "cart_add":
            await self.add_to_cart(conn)
        else:
            await self.checkout(conn)


# --- the run --------------------------------------------------------------------------------------------------------


async def shop(args: argparse.Namespace, base_url: str, tokens: list[str], catalog: Catalog) -> dict[str, Any]:
    host, port = base_url.removeprefix("http://").split(":")
    started = time.monotonic()
    until = started + args.seconds
    warmup = args.warmup if args.warmup is not None else args.seconds * 0.1
    samples: list[tuple[str, str, float, float]] = []  # endpoint, status, latency s, at s

    def record(endpoint: str, status: int, latency: float, shed: bool = False) -> None:
        # A 503 `overloaded` is admission control turning a write away (Retry-After, nothing changed): counted as
        # "503_shed", apart from errors.
        samples.append((endpoint, f"{status}_shed" if shed else str(status), latency, time.monotonic() - started))

    async def shopper(n: int) -> None:
        s = Shopper(tokens[n], catalog, random.Random(args.seed * 1000 + n), record)
        s.address = (host, int(port))
        conn = list(await asyncio.open_connection(host, int(port)))  # a new one replaces it in place
        try:
            while time.monotonic() < until:
                try:
                    await s.step(conn)
                except (OSError, asyncio.IncompleteReadError):  # the server dropped the connection
                    record("connection", 0, 0.0)
                    conn[1].close()
                    conn = list(await asyncio.open_connection(host, int(port)))
                if args.think_ms:
                    await asyncio.sleep(s.rng.uniform(0, 2 * args.think_ms) / 1000)
        finally:
            conn[1].close()

    await asyncio.gather(*(shopper(n) for n in range(args.shoppers)))
    return {"samples": samples, "warmup": warmup, "elapsed": time.monotonic() - started}


async def sample_processes(group: int, every: float, timeline: list[dict[str, Any]], stop_at: asyncio.Event) -> None:
    started = time.monotonic()
    while True:
        found = processes(group)
        timeline.append({
            "at_s": round(time.monotonic() - started, 1),
            "load_1m": round(os.getloadavg()[0], 2),
            "rss_mb": {f"{role}:{pid}": round(rss / 2**20, 1) for pid, (role, rss, _) in sorted(found.items())},
        })  # fmt: skip
        try:
            await asyncio.wait_for(stop_at.wait(), timeout=every)
            return
        except TimeoutError:
            continue


def summarise(samples: list[tuple[str, str, float, float]], warmup: float, elapsed: float) -> dict[str, Any]:
    by_endpoint: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for endpoint, status, latency, at in samples:
        by_endpoint[endpoint].append((status, latency, at))
    out: dict[str, Any] = {}
    for endpoint, rows in sorted(by_endpoint.items()):
        steady = sorted(lat * 1000 for _, lat, at in rows if at >= warmup)
        whole = sorted(lat * 1000 for _, lat, _ in rows)
        out[endpoint] = {
            "requests": len(rows),
            "per_s": round(len(rows) / elapsed, 1),
            "statuses": dict(sorted(Counter(s for s, _, _ in rows).items())),
            "p50_ms": round(_percentile(steady, 50), 1),
            "p99_ms": round(_percentile(steady, 99), 1),
            "max_ms": round(steady[-1], 1) if steady else 0.0,
            "whole_run_p99_ms": round(_percentile(whole, 99), 1),
            # When the tail happened: (seconds into the run the request was sent, seconds it took), slowest first.
            "slowest": [(round(at - lat, 2), round(lat, 3)) for _, lat, at in sorted(rows, key=lambda r: -r[1])[:20]],
        }
    return out


def rss_growth(timeline: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    """RSS of all server processes at one third of the run and at the end (the last two thirds: after warm-up)."""
    if len(timeline) < 2:
        return {}
    third = next((t for t in timeline if t["at_s"] >= elapsed / 3), timeline[0])
    last = timeline[-1]
    start_total, end_total = sum(third["rss_mb"].values()), sum(last["rss_mb"].values())
    return {
        "from_s": third["at_s"],
        "to_s": last["at_s"],
        "total_mb_from": round(start_total, 1),
        "total_mb_to": round(end_total, 1),
        "growth_percent": round(100 * (end_total - start_total) / start_total, 2) if start_total else 0.0,
        "per_process": {
            name: [third["rss_mb"].get(name), mb] for name, mb in last["rss_mb"].items()
        },  # a process restarted in between shows None first
    }


async def main() -> int:
    args = _arguments()
    env = server_env(args)
    version = await prepare_database(args, env)
    tokens: list[str] = []
    conn = await asyncpg.connect(env["BAZAAR_DATABASE_URL"])
    try:
        tokens = await create_buyers(conn, args.shoppers, f"soak-{uuid.uuid4().hex[:6]}")
        catalog = await Catalog.sample(env["BAZAAR_DATABASE_URL"], random.Random(args.seed))
    finally:
        await conn.close()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "bazaar.cli", "serve", "--port", str(port), "--workers", str(args.workers)]
    log_path = RESULTS / f"soak-server-{args.database}.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = start_server(cmd, env, log_path)
    try:
        await wait_ready(base_url, server)
        deadlocks_before = await deadlocks(args)
        cpu_before = processes(server.pid)
        load_before = os.getloadavg()
        timeline: list[dict[str, Any]] = []
        done = asyncio.Event()
        sampler = asyncio.create_task(sample_processes(server.pid, args.sample_seconds, timeline, done))
        run = await shop(args, base_url, [t for _, t in tokens], catalog)
        done.set()
        await sampler
        cpu_after = processes(server.pid)
    finally:
        stop(server)
    await asyncio.sleep(1.5)  # backends flush their statistics on exit
    deadlocks_seen = await deadlocks(args) - deadlocks_before
    if not args.keep:
        await drop_database(args)
        shutil.rmtree(env["BAZAAR_DATA_DIR"], ignore_errors=True)

    endpoints = summarise(run["samples"], run["warmup"], run["elapsed"])
    requests_total = sum(e["requests"] for e in endpoints.values())
    cpu = defaultdict(float)
    for pid, (role, _, seconds) in cpu_after.items():
        cpu[role] += seconds - cpu_before.get(pid, (role, 0, 0.0))[2]
    server_errors = sum(
        n for e in endpoints.values() for s, n in e["statuses"].items() if s.startswith("5") and not s.endswith("_shed")
    )
    shed = sum(n for e in endpoints.values() for s, n in e["statuses"].items() if s.endswith("_shed"))
    dropped = endpoints.get("connection", {}).get("requests", 0)
    budgets = {
        name: {"p99_ms": endpoints.get(name, {}).get("p99_ms"), "budget_ms": limit,
               "met": endpoints.get(name, {}).get("p99_ms", 0) <= limit}
        for name, limit in BUDGETS_MS.items()
    }  # fmt: skip
    result = {
        "benchmark": "soak",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "seconds": round(run["elapsed"], 1),
        "warmup_seconds": run["warmup"],
        "shoppers": args.shoppers,
        "products": args.products,
        "workers": args.workers,
        "endpoints": endpoints,
        "budgets": budgets,
        "server_errors_5xx": server_errors,
        "shed_503_retried": shed,
        "dropped_connections": dropped,
        "deadlocks": deadlocks_seen,
        "cpu_ms_per_request": {k: round(v * 1000 / max(requests_total, 1), 2) for k, v in sorted(cpu.items())},
        "cpu_seconds": {k: round(v, 1) for k, v in sorted(cpu.items())},
        "rss_growth": rss_growth(timeline, run["elapsed"]),
        "rss_timeline": timeline,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "postgres": version,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "at": datetime.now(UTC).isoformat(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_summary(result)
    failed = server_errors > 0 or dropped > 0 or deadlocks_seen > 0
    if args.enforce_budgets and not all(b["met"] for b in budgets.values()):
        failed = True
    print(f"{'FAILED' if failed else 'ok'}; written to {args.out}")
    return 1 if failed else 0


def print_summary(r: dict[str, Any]) -> None:
    print(f"soak: {r['seconds']} s, {r['shoppers']} shoppers, {r['products']} products, --workers {r['workers']}, "
          f"load average {r['load_average_before'][0]} -> {r['load_average_after'][0]}")  # fmt: skip
    print(f"{'endpoint':<11} {'requests':>8} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses")
    for name, e in r["endpoints"].items():
        print(f"{name:<11} {e['requests']:>8} {e['per_s']:>7} {e['p50_ms']:>8} {e['p99_ms']:>8} {e['max_ms']:>8}  "
              f"{e['statuses']}")  # fmt: skip
    growth = r["rss_growth"]
    if growth:
        print(f"RSS (all processes) {growth['total_mb_from']} MB at {growth['from_s']} s -> {growth['total_mb_to']} MB "
              f"at {growth['to_s']} s ({growth['growth_percent']:+} %)")  # fmt: skip
    print(f"CPU ms per request: {r['cpu_ms_per_request']}")
    print(
        f"5xx: {r['server_errors_5xx']}, shed (503 overloaded, retried): {r['shed_503_retried']}, "
        f"dropped connections: {r['dropped_connections']}, "
        f"deadlocks: {r['deadlocks']}, budgets: "
        + ", ".join(f"{k} p99 {b['p99_ms']} <= {b['budget_ms']}: {b['met']}" for k, b in r["budgets"].items())
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
