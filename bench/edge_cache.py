"""Product-page throughput through the nginx edge cache (deploy/nginx/bazaar.conf) against Bazaar alone, same run.

    .venv/bin/python bench/edge_cache.py [--data-dir DIR] [--products 2000] [--hot 20] [--seconds 10]
                                         [--rounds 2] [--concurrency 32]

Seeds DIR when it is empty, starts `bazaar serve --workers 2` on a free loopback port and nginx (Debian's, found on
PATH or in /usr/sbin) with the deployment's own config pointed at it, then loads `GET /api/v1/products/{id}` for
--hot products directly and through nginx, alternating the two for --rounds rounds with the same tool (wrk when
installed), paths and concurrency. CPU per request is read from /proc for every process of each server side
(Bazaar's processes; Bazaar's plus nginx's through the cache). Writes bench/results/edge_cache.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import ROOT, LoadResult, Server, bench_env, fetch, free_port, machine, run_for, write_result
from product_page import BAZAAR, ensure_seeded, hot_products

CONFIG = ROOT / "deploy" / "nginx" / "bazaar.conf"
TICKS = os.sysconf("SC_CLK_TCK")


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise SystemExit("nginx is not installed (apt-get install nginx-light)")
    return found


def render_config(workdir: Path, listen: int, upstream: int) -> Path:
    """The deployment's config with this run's ports and a private cache directory, inside a minimal nginx.conf."""
    site = CONFIG.read_text()
    for old, new in (
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
        ("listen 80;", f"listen 127.0.0.1:{listen};"),
        ("/var/cache/nginx/bazaar", str(workdir / "cache")),
    ):
        assert old in site, f"{CONFIG} no longer has {old!r}"
        site = site.replace(old, new)
    (workdir / "bazaar.conf").write_text(site)
    main = workdir / "nginx.conf"
    # Run as root (CI, this bench), the workers keep root's rights so they can use a cache under a private tmp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        f"{user}worker_processes 1;\ndaemon off;\nmaster_process on;\n"
        f"pid {workdir}/nginx.pid;\nerror_log {workdir}/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        f"http {{ access_log off; include {workdir}/bazaar.conf; }}\n"
    )
    return main


def session_cpu_seconds(session_id: int) -> float:
    """utime + stime of every process in a session: a server started in its own session with all it forked."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[3]) == session_id:  # fields after the command: state ppid pgrp session ...
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def measured(port: int, paths: list[str], pids: list[int], **load: Any) -> tuple[LoadResult, float]:
    before = sum(session_cpu_seconds(p) for p in pids)
    result = run_for(port, paths, **load)
    used = sum(session_cpu_seconds(p) for p in pids) - before
    return result, used


def cache_status(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return str(r.headers.get("X-Cache-Status", ""))


def summarise(runs: list[tuple[LoadResult, float]]) -> dict[str, Any]:
    return {
        "rounds": [{**r.as_dict(), "server_cpu_seconds": round(cpu, 2)} for r, cpu in runs],
        "rps_median": round(statistics.median(r.rps for r, _ in runs), 1),
        "p50_ms_median": round(statistics.median(r.p50_ms for r, _ in runs), 2),
        "p99_ms_median": round(statistics.median(r.p99_ms for r, _ in runs), 2),
        "cpu_ms_per_request": round(1000 * sum(c for _, c in runs) / max(1, sum(r.requests for r, _ in runs)), 4),
        "errors": sum(r.errors for r, _ in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "bazaar-bench-pages")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--hot", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    nginx = nginx_binary()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_seeded(args.data_dir, args.products)
    ids = hot_products(args.data_dir, args.hot)
    paths = [f"/api/v1/products/{i}" for i in ids]
    bazaar_port, edge_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bazaar-edge-"))
    (workdir / "cache").mkdir()
    os.chmod(workdir, 0o777)
    os.chmod(workdir / "cache", 0o777)
    conf = render_config(workdir, edge_port, bazaar_port)
    subprocess.run([nginx, "-t", "-q", "-p", str(workdir), "-c", str(conf)], check=True)
    bazaar = Server(
        [BAZAAR, "serve", "--host", "127.0.0.1", "--port", str(bazaar_port), "--workers", "2"],
        bench_env(args.data_dir),
        bazaar_port,
        args.data_dir / "bench-bazaar.log",
    )
    load = {"concurrency": args.concurrency, "seconds": args.seconds, "threads": 1}
    try:
        with bazaar:
            bazaar.wait_ready()
            edge = Server(
                [nginx, "-p", str(workdir), "-c", str(conf)], dict(os.environ), edge_port, workdir / "out.log"
            )
            with edge:
                edge.wait_ready("/healthz")
                for p in paths:  # the same bytes either way, or the comparison means nothing
                    assert fetch(edge_port, p) == fetch(bazaar_port, p), "bodies differ"
                statuses = {cache_status(edge_port, p) for p in paths}
                run_for(bazaar_port, paths, concurrency=args.concurrency, seconds=3)  # warm both
                run_for(edge_port, paths, concurrency=args.concurrency, seconds=3)
                direct: list[tuple[LoadResult, float]] = []
                through: list[tuple[LoadResult, float]] = []
                for _ in range(args.rounds):
                    direct.append(measured(bazaar_port, paths, [bazaar.proc.pid], **load))
                    through.append(measured(edge_port, paths, [bazaar.proc.pid, edge.proc.pid], **load))
                time.sleep(6)  # past max-age=5: served stale while a background If-None-Match revalidates it
                revalidated = [cache_status(edge_port, paths[0])]
                time.sleep(0.5)
                revalidated.append(cache_status(edge_port, paths[0]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result: dict[str, Any] = {
        "benchmark": "edge_cache",
        "command": " ".join(sys.argv),
        "machine": machine(),
        "load_average_at_start": os.getloadavg()[0],
        "settings": {
            "bazaar_workers": 2,
            "nginx_workers": 1,
            "hot_pages": len(paths),
            **load,
            "tool": direct[0][0].tool,
        },
        "cache_status_seen": sorted(statuses),
        "after_max_age": revalidated,
        "bazaar_alone": summarise(direct),
        "through_edge_cache": summarise(through),
    }
    result["ratio"] = round(result["through_edge_cache"]["rps_median"] / result["bazaar_alone"]["rps_median"], 2)
    path = write_result("edge_cache", result)
    a, e = result["bazaar_alone"], result["through_edge_cache"]
    for label, r in (("Bazaar alone:      ", a), ("through nginx edge:", e)):
        print(f"{label} {r['rps_median']:.0f} req/s, p99 {r['p99_ms_median']} ms, {r['cpu_ms_per_request']} ms CPU/req")
    print(f"ratio {result['ratio']:.2f}x; after max-age: {' then '.join(revalidated)}; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
