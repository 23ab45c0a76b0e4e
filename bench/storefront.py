"""Benchmark the storefront's HTML pages: cached product and search pages rendered over HTTP.

    .venv/bin/python bench/storefront.py [--data-dir DIR] [--products 2000] [--requests 2000] [--concurrency 1 4]

Seeds DIR when it is empty, starts `bazaar serve` (one process) on a free loopback port, requests every
page once to warm the product-page and search caches, then requests the hot product pages and the search
pages (queries with a brand facet, a sort and a second page among them) --requests times each, at each
concurrency. The target is p99 <= 50 ms per page at concurrency 1. Writes bench/results/storefront.json.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import ROOT, Server, bench_env, fetch, free_port, machine, run_paths, write_result
from product_page import ensure_seeded, hot_products

BAZAAR = str(ROOT / ".venv" / "bin" / "bazaar")


def search_paths(data_dir: Path, count: int) -> list[str]:
    """Shareable search URLs as a shopper makes them: a word from a title, some with a brand, a sort, page 2."""
    with sqlite3.connect(data_dir / "bazaar.sqlite3") as conn:
        rows = conn.execute("SELECT title, brand FROM products ORDER BY id LIMIT ?", (count,)).fetchall()
    paths = []
    for n, (title, brand) in enumerate(rows):
        word = max((w for w in title.split() if w.isalpha()), key=len, default=title.split()[0])
        params: list[tuple[str, str]] = [("q", word.lower())]
        if n % 3 == 1:
            params.append(("brand", brand))
        if n % 4 == 2:
            params.append(("sort", "price_asc"))
        if n % 5 == 3:
            params.append(("page", "2"))
        paths.append("/search?" + urlencode(params))
    return paths


def measure(port: int, paths: list[str], requests: int, concurrency: int) -> dict[str, Any]:
    cycle = (paths * (1 + requests // len(paths)))[:requests]
    return run_paths(port, cycle, concurrency).as_dict()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "bazaar-bench-storefront")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--hot", type=int, default=20, help="distinct product and search pages")
    parser.add_argument("--requests", type=int, default=2000, help="requests per page kind and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()

    args.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_seeded(args.data_dir, args.products)
    kinds = {
        "product": [f"/p/{i}" for i in hot_products(args.data_dir, args.hot)],
        "search": search_paths(args.data_dir, args.hot),
    }
    port = free_port()
    argv = [BAZAAR, "serve", "--host", "127.0.0.1", "--port", str(port)]
    results: dict[str, Any] = {}
    with Server(argv, bench_env(args.data_dir), port, args.data_dir / "bench-storefront.log") as server:
        server.wait_ready("/readyz")
        for paths in kinds.values():
            for path in paths:
                assert b"<!doctype html>" in fetch(port, path)[:100]
        for kind, paths in kinds.items():
            for concurrency in args.concurrency:
                # The caches hold a page for a few seconds and refresh it ahead: keep them warm, as traffic would.
                results[f"{kind}@{concurrency}"] = measure(port, paths, args.requests, concurrency)
                time.sleep(0.5)
    payload = {
        "benchmark": "storefront",
        "command": " ".join(sys.argv),
        "machine": machine(),
        "products": args.products,
        "pages": {k: len(v) for k, v in kinds.items()},
        "results": results,
    }
    out = write_result("storefront", payload)
    print(f"storefront pages over HTTP, one `bazaar serve` process, {args.products} products ({out})")
    for name, r in results.items():
        line = f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  {r['rps']:7.1f} req/s  errors {r['errors']}"
        print(f"  {name:<11} {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
