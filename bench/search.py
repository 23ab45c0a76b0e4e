"""Benchmark search over HTTP on a large seeded catalog: a fixed mix of queries with facets, 16 clients.

    .venv/bin/python bench/search.py [--data-dir DIR] [--products 1000000] [--queries 600] [--concurrency 16]
                                     [--skip-reindex]

Seeds DIR when it is empty (`bazaar seed`), times `bazaar reindex` (the full index build) and the
index size, then starts `bazaar serve --workers 2` and sends every query of the mix once (cold:
nothing cached) and once more (warm: the result cache answers). Queries have 1-3 words taken from
real titles (some with a typo), random filters (category, brands, price
range, minimum rating, in stock), every sort and pages 1-20; every answer carries all facets.
Also times the same mix in-process on the engine alone (one thread), to separate HTTP costs.
Writes bench/results/search.json and prints a summary.
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import ROOT, Server, bench_env, fetch, free_port, machine, run_paths, write_result

BAZAAR = str(ROOT / ".venv" / "bin" / "bazaar")
STOPWORDS = {"the", "and", "for", "with", "from"}  # what a shopper would not type alone
SORTS = ["relevance"] * 5 + ["price_asc", "price_desc", "rating", "newest"] * 2


def ensure_seeded(data_dir: Path, products: int) -> None:
    db = data_dir / "bazaar.sqlite3"
    if db.exists():
        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT count(*) FROM products").fetchone()[0] >= products:
                return
    subprocess.run([BAZAAR, "seed", "--products", str(products)], env=bench_env(data_dir), check=True)


def reindex(data_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run(
        [BAZAAR, "reindex", "--quiet"], env=bench_env(data_dir), check=True, capture_output=True, text=True
    ).stdout
    return {"seconds": round(time.perf_counter() - started, 1), "output": out.strip().splitlines()[-1:]}


def index_size(data_dir: Path) -> int:
    return sum(f.stat().st_size for f in (data_dir / "search").rglob("*") if f.is_file())


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1 :]


def query_mix(data_dir: Path, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    with sqlite3.connect(data_dir / "bazaar.sqlite3") as conn:
        top = conn.execute("SELECT max(rowid) FROM products").fetchone()[0]
        rowids = rng.sample(range(1, top + 1), min(top, 5000))
        marks = ",".join("?" * len(rowids))
        sample = conn.execute(f"SELECT title, brand FROM products WHERE rowid IN ({marks})", rowids).fetchall()  # noqa: S608
        categories = [r[0] for r in conn.execute("SELECT id FROM categories")]
    brands = sorted({b for _, b in sample})
    queries: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(queries) < count:
        title, _ = rng.choice(sample)
        words = [w.lower() for w in re.findall(r"[A-Za-z]+", title) if len(w) >= 3 and w.lower() not in STOPWORDS]
        params: dict[str, Any] = {}
        if not words:
            continue
        n = min(len(words), rng.choice([1, 1, 2, 2, 2, 3]))
        start = rng.randrange(len(words) - n + 1)
        chosen = words[start : start + n]
        long_words = [i for i, w in enumerate(chosen) if len(w) >= 5]
        if long_words and rng.random() < 0.1:
            i = rng.choice(long_words)
            chosen[i] = _typo(chosen[i], rng)
        params["q"] = " ".join(chosen)
        if rng.random() < 0.25:
            params["category"] = rng.choice(categories)
        if rng.random() < 0.15:
            params["brand"] = rng.sample(brands, rng.choice([1, 2]))
        if rng.random() < 0.2:
            low = rng.choice([0, 1000, 2500, 5000])
            params["price_min"], params["price_max"] = low, low + rng.choice([2500, 10000, 50000])
        if rng.random() < 0.15:
            params["rating_min"] = rng.choice([3, 4])
        if rng.random() < 0.3:
            params["in_stock"] = "true"
        params["sort"] = rng.choice(SORTS)
        r = rng.random()
        params["page"] = 1 if r < 0.5 else rng.randint(2, 3) if r < 0.7 else rng.randint(4, 20)
        key = urlencode(params, doseq=True)
        if key not in seen:
            seen.add(key)
            queries.append(params)
    return queries


def engine_only(data_dir: Path, queries: list[dict[str, Any]]) -> dict[str, Any]:
    """The same mix straight on the engine, one query at a time: what HTTP and concurrency add is the rest."""
    from bazaar.search.engine import SearchEngine
    from bazaar.search.index import SearchIndex
    from bazaar.search.schemas import SearchParams

    engine = SearchEngine(SearchIndex(data_dir / "search"))
    times = []
    for params in queries:
        p = SearchParams(**{**params, "brand": tuple(params.get("brand", ()))})
        started = time.perf_counter()
        engine.run_json(p)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2),
        "max_ms": round(times[-1], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "bazaar-bench-1m")
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip-reindex", action="store_true", help="do not time a full index rebuild")
    parser.add_argument(
        "--sweep", default="1,4", help="also run a fresh cold mix at each of these concurrencies (latency vs load)"
    )
    args = parser.parse_args()

    args.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_seeded(args.data_dir, args.products)
    build = None if args.skip_reindex else reindex(args.data_dir)
    size = index_size(args.data_dir)
    queries = query_mix(args.data_dir, args.queries, args.seed)
    warmup = query_mix(args.data_dir, 100, args.seed + 1)
    paths = ["/api/v1/search?" + urlencode(q, doseq=True) for q in queries]
    engine = engine_only(args.data_dir, queries)

    port = free_port()
    server = Server(
        [BAZAAR, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        bench_env(args.data_dir),
        port,
        args.data_dir / "bench-search-serve.log",
    )
    with server:
        server.wait_ready()
        run_paths(port, ["/api/v1/search?" + urlencode(q, doseq=True) for q in warmup], args.concurrency)
        sample = fetch(port, paths[0])
        cold = run_paths(port, paths, args.concurrency)
        warm = run_paths(port, paths, args.concurrency)
        sweep = {}
        for n, clients in enumerate(int(c) for c in args.sweep.split(",") if c):
            mix = query_mix(args.data_dir, args.queries, args.seed + 100 + n)
            sweep[clients] = run_paths(port, ["/api/v1/search?" + urlencode(q, doseq=True) for q in mix], clients)

    result: dict[str, Any] = {
        "benchmark": "search",
        "command": " ".join(sys.argv),
        "machine": machine(),
        "products": args.products,
        "index_build": build,
        "index_bytes": size,
        "index_mib": round(size / 2**20, 1),
        "mix": {
            "queries": len(paths),
            "with_words": sum(1 for q in queries if "q" in q),
            "with_filters": sum(
                1 for q in queries if set(q) & {"category", "brand", "price_min", "rating_min", "in_stock"}
            ),
            "sorted": sum(1 for q in queries if q["sort"] != "relevance"),
            "deep_pages": sum(1 for q in queries if q["page"] >= 4),
        },
        "engine_only_single_thread": engine,
        "http_cold": cold.as_dict(),
        "http_warm_cached": warm.as_dict(),
        "http_cold_by_concurrency": {str(k): v.as_dict() for k, v in sweep.items()},
        "sample_response_bytes": len(sample),
    }
    path = write_result("search", result)
    if build:
        print(
            f"index build (bazaar reindex, {args.products:,} products): {build['seconds']} s; "
            f"size {result['index_mib']} MiB"
        )
    else:
        print(f"index size {result['index_mib']} MiB")
    print(
        f"engine only, one thread: p50 {engine['p50_ms']} ms, p99 {engine['p99_ms']} ms "
        f"over {engine['queries']} queries"
    )
    print(
        f"HTTP cold, {args.concurrency} clients: p50 {cold.p50_ms} ms, p99 {cold.p99_ms} ms, {cold.rps:.0f} req/s, "
        f"errors {cold.errors} (target p99 <= 50 ms)"
    )
    print(f"HTTP same mix again: p50 {warm.p50_ms} ms, p99 {warm.p99_ms} ms, {warm.rps:.0f} req/s")
    for clients, r in sweep.items():
        print(f"HTTP cold, {clients} clients (fresh mix): p50 {r.p50_ms} ms, p99 {r.p99_ms} ms, {r.rps:.0f} req/s")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
