"""Benchmark hot product pages over HTTP against a bare Starlette app serving the same bytes.

    .venv/bin/python bench/product_page.py [--data-dir DIR] [--products 2000] [--seconds 15] [--concurrency 16]

Seeds DIR when it is empty, starts `bazaar serve --workers 2` on a free loopback port, warms the
page cache with --hot pages, then loads both servers with the same tool (wrk when installed, else
an asyncio client), the same concurrency and the same paths, alternating them for --rounds rounds.
Writes bench/results/product_page.json and prints req/s, p99 and the ratio bazaar/bare.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import ROOT, LoadResult, Server, bench_env, fetch, free_port, machine, run_for, write_result

BAZAAR = str(ROOT / ".venv" / "bin" / "bazaar")
PYTHON = sys.executable


def ensure_seeded(data_dir: Path, products: int) -> None:
    db = data_dir / "bazaar.sqlite3"
    if db.exists():
        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT count(*) FROM products").fetchone()[0] > 0:
                return
    subprocess.run([BAZAAR, "seed", "--products", str(products), "--quiet"], env=bench_env(data_dir), check=True)


def hot_products(data_dir: Path, count: int) -> list[str]:
    with sqlite3.connect(data_dir / "bazaar.sqlite3") as conn:
        rows = conn.execute(
            "SELECT product_id FROM offers GROUP BY product_id ORDER BY count(*) DESC, product_id LIMIT ?", (count,)
        ).fetchall()
    return [r[0] for r in rows]


def summarise(results: list[LoadResult]) -> dict[str, Any]:
    return {
        "rounds": [r.as_dict() for r in results],
        "rps_median": round(statistics.median(r.rps for r in results), 1),
        "p99_ms_median": round(statistics.median(r.p99_ms for r in results), 2),
        "p50_ms_median": round(statistics.median(r.p50_ms for r in results), 2),
        "errors": sum(r.errors for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "bazaar-bench-pages")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--hot", type=int, default=20, help="how many distinct product pages are hammered")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (each one takes CPU from the servers)")
    args = parser.parse_args()

    args.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_seeded(args.data_dir, args.products)
    ids = hot_products(args.data_dir, args.hot)
    paths = [f"/api/v1/products/{i}" for i in ids]
    bazaar_port, bare_port = free_port(), free_port()
    env = bench_env(args.data_dir)
    bazaar = Server(
        [BAZAAR, "serve", "--host", "127.0.0.1", "--port", str(bazaar_port), "--workers", "2"],
        env,
        bazaar_port,
        args.data_dir / "bench-bazaar.log",
    )
    with bazaar:
        bazaar.wait_ready()
        pages = {i: fetch(bazaar_port, p).decode() for i, p in zip(ids, paths, strict=True)}
        pages_file = args.data_dir / "bare-pages.json"
        pages_file.write_text(json.dumps(pages))
        bare = Server(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(bare_port),
                "--workers",
                "2",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {**env, "BARE_PAGES": str(pages_file)},
            bare_port,
            args.data_dir / "bench-bare.log",
        )
        with bare:
            bare.wait_ready()
            for p in paths:  # same bytes from both, or the comparison means nothing
                assert fetch(bare_port, p) == fetch(bazaar_port, p), "bodies differ"
            run_for(bazaar_port, paths, concurrency=args.concurrency, seconds=3)  # warm every worker's cache
            run_for(bare_port, paths, concurrency=args.concurrency, seconds=3)
            ours: list[LoadResult] = []
            theirs: list[LoadResult] = []
            load = {"concurrency": args.concurrency, "seconds": args.seconds, "threads": args.threads}
            for _ in range(args.rounds):
                ours.append(run_for(bazaar_port, paths, **load))
                theirs.append(run_for(bare_port, paths, **load))
    result: dict[str, Any] = {
        "benchmark": "product_page",
        "command": " ".join(sys.argv),
        "machine": machine(),
        "settings": {
            "workers": 2,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "hot_pages": len(paths),
            "page_bytes_median": int(statistics.median(len(v) for v in pages.values())),
            "tool": ours[0].tool,
            "wrk_threads": args.threads,
        },
        "bazaar": summarise(ours),
        "bare_starlette": summarise(theirs),
    }
    result["ratio"] = round(result["bazaar"]["rps_median"] / result["bare_starlette"]["rps_median"], 3)
    path = write_result("product_page" if args.threads == 1 else f"product_page-wrk{args.threads}", result)
    b, s = result["bazaar"], result["bare_starlette"]
    print(
        f"bazaar GET /api/v1/products/{{id}} (cached): {b['rps_median']:.0f} req/s, p50 {b['p50_ms_median']} ms, "
        f"p99 {b['p99_ms_median']} ms, errors {b['errors']}"
    )
    print(
        f"bare Starlette, same bytes:               {s['rps_median']:.0f} req/s, p50 {s['p50_ms_median']} ms, "
        f"p99 {s['p99_ms_median']} ms"
    )
    print(f"ratio {result['ratio']:.2f} (target >= 0.5), p99 target <= 10 ms; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
