"""N Bazaar nodes on this machine, each its own `bazaar serve --workers W` with its own data dir, on one
PostgreSQL database and one private Redis: does throughput follow the cores, or something shared?

For each layout (default `1x2,2x1`: one node of two web processes, then two nodes of one) it seeds once,
starts the nodes, drives searches and product pages spread over the nodes with wrk (one wrk per node, the
connections split evenly), and reports per scenario: requests/s, p50/p99, the nodes' CPU per request from
/proc (every process of every node: web processes, supervisors, workers; their idle CPU, measured first,
subtracted), PostgreSQL transactions per
request (pg_stat_database of the bench database), and Redis commands and server CPU per request (INFO
commandstats of the private redis-server this bench starts, so the figures are the bench's alone).

    .venv/bin/python bench/cluster.py --layouts 1x2,2x1 --seconds 15 --products 2000

Search answers are cached per node (each node's replica has its own generations), 10 s each and refreshed ahead:
every node computes each query it is asked once per period. `--search-by-url` sends each search URL to one node
(a hash of the URL), as the edge config routes searches, so each query is computed by one node per period.

Writes bench/results/cluster.json. The machine is shared: the load average is recorded before each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _accounting import machine_ticks
from loadgen import ROOT, Server, free_port, machine, run_for, write_result

CLI = [sys.executable, "-m", "bazaar.cli"]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", default="1x2,2x1", help="nodes x web processes per node, comma-separated")
    parser.add_argument("--seconds", type=int, default=15, help="load per scenario and layout")
    parser.add_argument("--connections", type=int, default=16, help="in all, split evenly over the nodes")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the layouts this many times")
    parser.add_argument("--scenarios", default="search,page,page-cold")
    parser.add_argument(
        "--search-by-url",
        action="store_true",
        help="send each search URL to one node only (by a hash of the URL), as deploy/nginx/bazaar.conf routes them",
    )
    parser.add_argument(
        "--pg-url", default=os.environ.get("BAZAAR_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--database", default="bazaar_cluster_bench")
    return parser.parse_args()


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)

    def stats(self) -> dict[str, Any]:
        """Commands served and server CPU (seconds) so far."""
        out = subprocess.run(["redis-cli", "-p", str(self.port), "info", "all"], capture_output=True, text=True).stdout
        by_command = {name: int(n) for name, n in re.findall(r"^cmdstat_([^:]+):calls=(\d+)", out, re.M)}
        cpu = sum(float(m) for m in re.findall(r"^used_cpu_(?:sys|user):([\d.]+)", out, re.M))
        return {"commands": sum(by_command.values()), "cpu_s": cpu, "by_command": by_command}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def _cpu_of_groups(groups: list[int]) -> float:
    """CPU seconds used so far by every process in these process groups (the nodes)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def _transactions(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            )
        )
    finally:
        await conn.close()


async def _prepare(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    admin = await asyncpg.connect(f"{args.pg_url.rstrip('/')}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{args.database}"')
    finally:
        await admin.close()
    seed = [*CLI, "seed", "--products", str(args.products), "--quiet"]
    await asyncio.to_thread(subprocess.run, seed, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    conn = await asyncpg.connect(env["BAZAAR_DATABASE_URL"])
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM products ORDER BY id")]
    finally:
        await conn.close()


def _paths(scenario: str, product_ids: list[str], words: list[str]) -> list[str]:
    rng = random.Random(7)
    if scenario == "page":  # popular products (the first 200): pages mostly served from the shared cache
        hot = product_ids[:200]
        return [f"/api/v1/products/{rng.choice(hot)}" for _ in range(5000)]
    if scenario == "page-cold":  # the whole catalog: most pages are cache misses, read from PostgreSQL
        return [f"/api/v1/products/{rng.choice(product_ids)}" for _ in range(5000)]
    sorts = ["relevance", "price_asc", "rating", "newest"]
    return [
        f"/api/v1/search?q={rng.choice(words)}&sort={rng.choice(sorts)}&page={rng.randint(1, 3)}" for _ in range(5000)
    ]


def _home(path: str, nodes: int) -> int:
    """The node a URL-hashing balancer sends this path to (a stable hash, as nginx's `hash $request_uri`)."""
    return zlib.crc32(path.encode()) % nodes


def _words(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/search?per_page=100", timeout=30) as r:
        titles = [item["title"] for item in json.loads(r.read())["items"]]
    return sorted({w.lower() for t in titles for w in re.findall(r"[A-Za-z]{4,}", t)})[:200]


def _load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def _run_layout(args: argparse.Namespace, env: dict[str, str], root: Path, nodes: int, workers: int,
                      product_ids: list[str], redis: PrivateRedis) -> dict[str, Any]:  # fmt: skip
    servers = []
    try:
        for i in range(nodes):
            data = root / f"{nodes}x{workers}-node{i}"
            port = free_port()
            node_env = {**env, "BAZAAR_DATA_DIR": str(data), "BAZAAR_NODE_ID": f"bench-{nodes}x{workers}-{i}"}
            cmd = [*CLI, "serve", "--port", str(port), "--workers", str(workers)]
            servers.append(Server(cmd, node_env, port, root / f"{nodes}x{workers}-node{i}.log"))
        for server in servers:
            server.wait_ready("/readyz", timeout=240)
        words = _words(servers[0].port)
        groups = [s.proc.pid for s in servers]
        # What the nodes burn with no load (each node's worker polls): subtracted from the CPU per request.
        idle0, idle_started = _cpu_of_groups(groups), time.monotonic()
        await asyncio.sleep(4)
        idle_per_s = (_cpu_of_groups(groups) - idle0) / (time.monotonic() - idle_started)
        results: dict[str, Any] = {"idle_node_cpu_per_s": round(idle_per_s, 4)}
        for scenario in args.scenarios.split(","):
            paths = _paths(scenario, product_ids, words)
            per_node = max(1, args.connections // nodes)
            # Each node walks the list from its own starting point: the same list in step on every node would
            # send every cold key to all nodes at the same moment (each waiting on the others' fill).
            by_node = [paths[i * len(paths) // nodes :] + paths[: i * len(paths) // nodes] for i in range(nodes)]
            if scenario == "search" and args.search_by_url and nodes > 1:
                by_node = [[p for p in paths if _home(p, nodes) == i] for i in range(nodes)]
            for server, own in zip(servers, by_node, strict=True):  # warm each node's caches and search readers
                await asyncio.to_thread(run_for, server.port, own, concurrency=per_node, seconds=2, threads=1)
            load = _load_average()
            cpu0, redis0, tx0 = _cpu_of_groups(groups), redis.stats(), await _transactions(env["BAZAAR_DATABASE_URL"])
            ticks0 = machine_ticks()
            began = time.monotonic()
            runs = await asyncio.gather(
                *(
                    asyncio.to_thread(run_for, s.port, own, concurrency=per_node, seconds=args.seconds, threads=1)
                    for s, own in zip(servers, by_node, strict=True)
                )
            )
            cpu1, redis1, ticks1 = _cpu_of_groups(groups), redis.stats(), machine_ticks()
            busy = max(1e-9, cpu1 - cpu0 - idle_per_s * (time.monotonic() - began))
            await asyncio.sleep(1.1)  # PostgreSQL backends flush their statistics about once a second
            tx1 = await _transactions(env["BAZAAR_DATABASE_URL"])
            requests = sum(r.requests for r in runs)
            seconds = max(r.seconds for r in runs)
            results[scenario] = {
                "load_average_before": load,
                "requests": requests,
                "errors": sum(r.errors for r in runs),
                "rps": round(requests / seconds, 1),
                "p50_ms": round(max(r.p50_ms for r in runs), 2),
                "p99_ms": round(max(r.p99_ms for r in runs), 2),
                "node_cpu_ms_per_request": round(1000 * busy / max(1, requests), 3),
                "requests_per_node_cpu_second": round(requests / busy, 1),
                # The whole machine: the nodes, PostgreSQL, Redis and the load generators (wrk) share its cores.
                "machine_busy_percent": round(100 * (ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1]), 1),
                "pg_transactions_per_request": round((tx1 - tx0) / max(1, requests), 3),
                "redis_commands_per_request": round((redis1["commands"] - redis0["commands"]) / max(1, requests), 2),
                "redis_cpu_us_per_request": round(1e6 * (redis1["cpu_s"] - redis0["cpu_s"]) / max(1, requests), 1),
                # Per command: a SET is a cache entry stored (a fill or a refresh-ahead, i.e. an answer computed).
                "redis_calls_per_request_by_command": {
                    name: round((n - redis0["by_command"].get(name, 0)) / max(1, requests), 3)
                    for name, n in sorted(redis1["by_command"].items())
                    if n - redis0["by_command"].get(name, 0) > 0
                },
            }
            r = results[scenario]
            line = f"{nodes}x{workers} {scenario:6s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.1f} ms"
            line += f"  p99 {r['p99_ms']:7.1f} ms  node CPU {r['node_cpu_ms_per_request']:.2f} ms/req"
            line += f"  PG {r['pg_transactions_per_request']:.3f} tx/req"
            line += f"  Redis {r['redis_commands_per_request']:.2f} cmd/req {r['redis_cpu_us_per_request']:.0f} µs/req"
            line += f" (SET {r['redis_calls_per_request_by_command'].get('set', 0):.3f}/req)"
            line += f"  machine {r['machine_busy_percent']:.0f} % busy"
            print(f"{line}  (load {load:.1f})", flush=True)
        return results
    finally:
        for server in servers:
            server.stop()


async def main() -> None:
    args = _arguments()
    root = Path(tempfile.mkdtemp(prefix="bazaar-cluster-bench-"))
    redis = PrivateRedis(root)
    env = {
        **os.environ,
        "BAZAAR_DATABASE_URL": f"{args.pg_url.rstrip('/')}/{args.database}",
        "BAZAAR_REDIS_URL": redis.url,
        "BAZAAR_DATA_DIR": str(root / "seed"),
        "BAZAAR_RATE_LIMITS": "off",
        "BAZAAR_ACCESS_LOG": "false",
        "BAZAAR_LOG_LEVEL": "WARNING",
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
    }
    try:
        product_ids = await _prepare(args, env)
        layouts: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.rounds):  # layouts alternate, so both see the same neighbours
            for layout in args.layouts.split(","):
                nodes, workers = (int(x) for x in layout.lower().split("x"))
                result = await _run_layout(args, env, root, nodes, workers, product_ids, redis)
                layouts.setdefault(layout, []).append(result)
        path = write_result(
            "cluster",
            {"machine": machine(), "products": args.products, "seconds": args.seconds,
             "connections": args.connections, "search_by_url": args.search_by_url, "layouts": layouts},
        )  # fmt: skip
        print(f"wrote {path}")
    finally:
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)
        admin = await asyncpg.connect(f"{args.pg_url.rstrip('/')}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        finally:
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
