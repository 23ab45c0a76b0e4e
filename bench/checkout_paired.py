"""Checkout cost of two versions, measured side by side in small alternating batches (issue 16).

`bench/checkout.py` runs one version's phase after the other's; on this shared VM the host's speed moves by 1.5-2.3x
within minutes, so two phases a few minutes apart can differ by more than the change being measured (the same code's
request path alone has measured 17.7 and 26.5 ms of web CPU an hour apart). Here both versions run at once, each
`serve --workers 2` on its own database and Redis prefix, their workers paused, and checkouts go to one and then the
other in batches of a few seconds, the first of each pair alternating: whatever the host does, it does to both within
seconds. Per version: the web processes' CPU per checkout (from /proc, summed over its batches only), one at a time
and 16 in flight, and per cart add (each batch first fills its buyers' carts, 16 adds in flight); then both workers
are resumed together and what they spend working off what the checkouts set off is read once both have drained.
CPU per operation is the steady figure; latencies are given for reference only.

    .venv/bin/python bench/checkout_paired.py --baseline-src DIR --redis-url redis://127.0.0.1:6379/3
    # DIR: another version's src/ (`git archive REV src | tar -x -C DIR`); results: bench/results/checkout_paired.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
import _accounting as acc
from checkout import (
    RESULTS,
    _drained,
    _env,
    _migrate,
    _spawn,
    _stop,
    create_buyers,
    create_catalog,
    fill_carts,
    fire,
    recreate_database,
    wait_ready,
)
from flash_sale import _free_port, _percentile


class Server:
    """One version: its database, its `serve --workers 2`, what its web processes spent on its own batches."""

    def __init__(self, name: str, src: str | None, dsn: str) -> None:
        self.name, self.src, self.dsn = name, src, dsn
        self.procs: list[subprocess.Popen[bytes]] = []
        self.base_url = ""
        self.spent: dict[str, list[float]] = {}  # run -> [web CPU seconds, checkouts]
        self.adds: list[float] = [0.0, 0]  # [web CPU seconds, cart adds] over every batch's cart filling
        self.offers: list[str] = []
        self.latencies: dict[str, list[float]] = {}

    @property
    def groups(self) -> list[int]:
        return [p.pid for p in self.procs]

    def web_cpu(self) -> float:
        return acc.process_cpu(self.groups).get("web", 0.0)

    def worker_cpu(self) -> float:
        return acc.process_cpu(self.groups).get("worker", 0.0)

    def signal_workers(self, sig: signal.Signals) -> None:
        for pid in acc.pids_of(self.groups, "worker"):
            os.kill(pid, sig)


async def _prepare(args: argparse.Namespace, server: Server, rng_seed: int, batches: int) -> list[list[Any]]:
    """The version's database (the same catalog shape for both), its server, the buyers of every batch (their carts
    are filled by the batch, measured); answers the buyers per batch, per run (alone, then in flight)."""
    database = server.dsn.rsplit("/", 1)[1]
    await recreate_database(args.pg_url, database=database)
    data_dir = RESULTS / "checkout-paired-data" / server.name
    shutil.rmtree(data_dir, ignore_errors=True)
    env = _env(args, server.dsn, data_dir, 0, server.src)
    _migrate(env)
    conn = await asyncpg.connect(server.dsn)
    try:
        server.offers = offers = await create_catalog(
            conn, sellers=args.sellers, offers_per_seller=args.offers, units=args.units
        )
        runs = []
        for run, size in (("alone", args.alone_batch), ("in_flight", args.flight_batch)):
            runs.append([await create_buyers(conn, size, f"{server.name}-{run}-{b}") for b in range(batches)])
        warm = await create_buyers(conn, args.warmup, f"{server.name}-warm")
    finally:
        await conn.close()
    port = _free_port()
    cmd = [sys.executable, "-m", "bazaar.cli", "serve", "--port", str(port), "--workers", "2"]
    server.procs.append(_spawn(cmd, env))
    server.base_url = f"http://127.0.0.1:{port}"
    await wait_ready(server.base_url)
    await fill_carts(server.base_url, warm, offers, random.Random(rng_seed), hot=False)
    await fire(server.base_url, warm, args.concurrency)  # connections, statements and caches warm
    return runs


async def _batch(server: Server, run: str, buyers: list[Any], concurrency: int, seed: int) -> None:
    """The batch's carts filled (16 adds in flight; the same carts for both versions: one seed per batch), then
    its checkouts; the web processes' CPU of each part is added to the version's figures."""
    before = server.web_cpu()
    added = await fill_carts(server.base_url, buyers, server.offers, random.Random(seed), hot=False)
    server.adds = [server.adds[0] + server.web_cpu() - before, server.adds[1] + len(added)]
    before = server.web_cpu()
    result = await fire(server.base_url, buyers, concurrency)
    spent = server.web_cpu() - before
    if result["statuses"] != {"201": len(buyers)}:
        raise RuntimeError(f"{server.name}: {result['statuses']} {result['errors']}")
    cpu, count = server.spent.get(run, [0.0, 0])
    server.spent[run] = [cpu + spent, count + len(buyers)]
    server.latencies.setdefault(run, []).append(result["p50_ms"])


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    base = args.pg_url.rstrip("/")
    servers = [
        Server("current", None, f"{base}/{args.database}_current"),
        Server("baseline", args.baseline_src, f"{base}/{args.database}_baseline"),
    ]
    try:
        prepared = [await _prepare(args, s, args.seed, args.pairs) for s in servers]
        for s in servers:
            s.signal_workers(signal.SIGSTOP)  # the request path alone: what the workers would do waits
        await asyncio.sleep(1)
        started = time.monotonic()
        for run_no, (run, concurrency) in enumerate((("alone", 1), ("in_flight", args.concurrency))):
            for pair in range(args.pairs):
                order = [0, 1] if pair % 2 == 0 else [1, 0]  # which version goes first alternates
                for i in order:
                    seed = args.seed * 1000 + run_no * 100 + pair  # the same carts for both versions
                    await _batch(servers[i], run, prepared[i][run_no][pair], concurrency, seed)
        window = time.monotonic() - started
        # What the checkouts set off: both workers resumed together, each read when it has drained, less what an
        # idle worker spends polling over as long (measured after both drained).
        conns = [await asyncpg.connect(s.dsn) for s in servers]
        try:

            async def drain(server: Server, conn: asyncpg.Connection) -> tuple[float, float]:
                before = server.worker_cpu()
                seconds = await _drained(conn, within=300)
                return seconds, server.worker_cpu() - before

            for s in servers:
                s.signal_workers(signal.SIGCONT)
            drained = await asyncio.gather(*(drain(s, c) for s, c in zip(servers, conns, strict=True)))
        finally:
            for c in conns:
                await c.close()
        idle_before = [s.worker_cpu() for s in servers]
        await asyncio.sleep(args.idle_seconds)
        idle_rate = [(s.worker_cpu() - b) / args.idle_seconds for s, b in zip(servers, idle_before, strict=True)]
        worker = [cpu - rate * seconds for (seconds, cpu), rate in zip(drained, idle_rate, strict=True)]
    finally:
        for s in servers:
            s.signal_workers(signal.SIGCONT)
            _stop(s.procs)
        if not args.keep_database:
            for s in servers:
                await recreate_database(args.pg_url, database=s.dsn.rsplit("/", 1)[1], drop_only=True)
            shutil.rmtree(RESULTS / "checkout-paired-data", ignore_errors=True)
    report: dict[str, Any] = {"window_seconds": round(window, 1), "versions": {}}
    for s, w in zip(servers, worker, strict=True):
        checkouts = sum(count for _, count in s.spent.values())
        report["versions"][s.name] = {
            "src": s.src or "installed",
            **{f"web_ms_per_checkout_{run}": round(cpu / count * 1000, 2) for run, (cpu, count) in s.spent.items()},
            **{f"p50_ms_{run}_median_batch": round(_percentile(v, 50), 1) for run, v in s.latencies.items()},
            "worker_ms_per_checkout": round(w / checkouts * 1000, 2),
            "web_ms_per_cart_add": round(s.adds[0] / s.adds[1] * 1000, 3),
            "cart_adds": s.adds[1],
            "checkouts": checkouts,
        }
    cur, old = report["versions"]["current"], report["versions"]["baseline"]
    report["ratio_current_to_baseline"] = {
        k: round(cur[k] / old[k], 3) for k in cur if "_per_checkout" in k or k.endswith("per_cart_add")
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="bazaar_bench_paired", help="prefix: _current and _baseline are made")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--baseline-src", required=True, help="a src/ directory of the version to compare with")
    parser.add_argument("--pairs", type=int, default=8, help="batches per version and run")
    parser.add_argument("--alone-batch", type=int, default=10, help="checkouts per batch, one at a time")
    parser.add_argument("--flight-batch", type=int, default=48, help="checkouts per batch, --concurrency in flight")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=24)
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument("--offers", type=int, default=10, help="offers per seller")
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=6.0, help="idle window for the workers' polling")
    parser.add_argument("--capture-delay", type=int, default=3600, help="captures stay out of the measured window")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--out", default="checkout_paired.json")
    args = parser.parse_args()
    args.baseline_src = str(Path(args.baseline_src).resolve())
    report = asyncio.run(measure(args))
    report["config"] = {k: v for k, v in vars(args).items() if k not in {"pg_url", "redis_url"}}
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(report, indent=2))
    for name, v in report["versions"].items():
        print(
            f"{name:9} web CPU per checkout: alone {v.get('web_ms_per_checkout_alone')} ms,"
            f" {args.concurrency} in flight {v.get('web_ms_per_checkout_in_flight')} ms;"
            f" worker afterwards {v['worker_ms_per_checkout']} ms; {v['checkouts']} checkouts;"
            f" web CPU per cart add {v['web_ms_per_cart_add']} ms ({v['cart_adds']} adds)"
        )
    print(f"current / baseline: {report['ratio_current_to_baseline']} (window {report['window_seconds']} s)")
    print(f"written to {RESULTS / args.out}")


if __name__ == "__main__":
    main()
