"""Benchmark `bazaar seed`: load N products into a fresh SQLite file or PostgreSQL database and record the timings.

    .venv/bin/python bench/seed.py --products 10000 --backend sqlite
    .venv/bin/python bench/seed.py --products 1000000 --backend postgres --pg-url postgresql://postgres@127.0.0.1

Writes bench/results/seed-<backend>-<N>.json (seconds, rows/s, counts, machine) and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bazaar.db.migrate import upgrade
from bazaar.seed.loader import SeedResult, seed_catalog
from bazaar.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
BENCH_DATABASE = "bazaar_bench_seed"


async def _admin(pg_url: str, statement: str) -> str | None:
    """Run one statement on the server's `postgres` database; answer the server version."""
    conn = await asyncpg.connect(f"{pg_url.rstrip('/')}/postgres")
    try:
        await conn.execute(statement)
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def _machine(pg_version: str | None) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "postgres": pg_version,
    }


def _counts(result: SeedResult) -> dict[str, int]:
    return {
        "categories": result.categories,
        "brands": result.brands,
        "sellers": result.sellers,
        "users": result.users,
        "products": result.products,
        "skus": result.skus,
        "offers": result.offers,
        "stock_buckets": result.offers,
        "rows": result.rows,
    }


def run(products: int, backend: str, seed: int, pg_url: str, rerun: bool) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="bazaar-bench-seed-"))
    pg_version = None
    if backend == "postgres":
        pg_version = asyncio.run(_admin(pg_url, f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        asyncio.run(_admin(pg_url, f"CREATE DATABASE {BENCH_DATABASE}"))
        settings = Settings(
            data_dir=data_dir, database_url=f"{pg_url.rstrip('/')}/{BENCH_DATABASE}", password_hash_profile="fast"
        )
    else:
        settings = Settings(data_dir=data_dir, database_url=None, password_hash_profile="fast")
    try:
        started = time.perf_counter()
        upgrade(settings)
        migrate_seconds = time.perf_counter() - started
        result = asyncio.run(seed_catalog(settings, products=products, seed=seed, progress=True))
        rerun_seconds = None
        if rerun:  # the idempotent no-op run: how long it takes to find there is nothing to add
            again = asyncio.run(seed_catalog(settings, products=products, seed=seed))
            assert again.products == 0, "a second run must add nothing"
            rerun_seconds = round(again.seconds, 2)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if backend == "postgres":
            asyncio.run(_admin(pg_url, f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
    return {
        "benchmark": "seed",
        "backend": backend,
        "products_requested": products,
        "seed": seed,
        "seconds": round(result.seconds, 2),
        "migrate_seconds": round(migrate_seconds, 2),
        "rerun_seconds": rerun_seconds,
        "rows_per_second": round(result.rows / result.seconds),
        "products_per_second": round(result.products / result.seconds),
        "counts": _counts(result),
        "machine": _machine(pg_version),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BAZAAR_BENCH_PG_URL", "postgresql://postgres@127.0.0.1"),
        help="server URL without a database name; a scratch database is created and dropped",
    )
    parser.add_argument("--no-rerun", action="store_true", help="skip the second, idempotent run")
    args = parser.parse_args()
    report = run(args.products, args.backend, args.seed, args.pg_url, rerun=not args.no_rerun)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"seed-{args.backend}-{args.products}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    counts = report["counts"]
    print(
        f"seed {args.backend} {args.products:,} products: {report['seconds']} s "
        f"({report['products_per_second']:,} products/s, {report['rows_per_second']:,} rows/s; "
        f"{counts['skus']:,} SKUs, {counts['offers']:,} offers); "
        f"rerun {report['rerun_seconds']} s; nproc {report['machine']['nproc']} -> {out}"
    )


if __name__ == "__main__":
    main()
