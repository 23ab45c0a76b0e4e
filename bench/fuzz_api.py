"""schemathesis over the whole API, as the demo buyer and the demo seller, on a served node (issue 14).

Starts `bazaar serve` on a fresh data directory with demo data (SQLite, or PostgreSQL + Redis with --pg), logs in
buyer@example.com and seller@example.com, and runs schemathesis against `/openapi.json` for each with every check
(`--checks all`, the operations listed in `schemathesis.toml` excepted as it says) and every phase (examples,
coverage, fuzzing, stateful). The HTTP requests each run made are counted from the server's access log.

    .venv/bin/python bench/fuzz_api.py --max-examples 30               # SQLite
    .venv/bin/python bench/fuzz_api.py --max-examples 30 --pg          # PostgreSQL + Redis

Writes bench/results/fuzz_api[-pg].json and prints a line per role; exits 1 when a run found a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served_requests(log: Path) -> int:
    return sum(1 for line in log.read_text(errors="replace").splitlines() if '"msg": "request"' in line)


def fresh_postgres(pg_url: str, database: str) -> str:
    import asyncio

    import asyncpg

    async def make() -> None:
        conn = await asyncpg.connect(f"{pg_url}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()

    asyncio.run(make())
    return f"{pg_url}/{database}"


def run_role(url: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        str(BIN / "st"), "--config-file", str(ROOT / "schemathesis.toml"), "run", f"{url}/openapi.json",
        "-H", f"Authorization: Bearer {token}", "--checks", "all", "--exclude-path", "/api/v1/auth/logout",
        "--phases", args.phases, "--max-examples", str(args.max_examples), "--workers", str(args.workers),
        "--generation-deterministic", "--no-color",
    ]  # fmt: skip
    started = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    summary = run.stdout.split("SUMMARY")[-1]
    cases = re.search(r"(\d+) generated", summary)
    failures = re.search(r"found (\d+) unique failure", summary)
    return {
        "exit_code": run.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "test_cases": int(cases.group(1)) if cases else None,
        "failures": int(failures.group(1)) if failures else 0,
        "summary": summary.strip()[-3000:],
        "failures_text": run.stdout.split("FAILURES")[-1][:20000] if run.returncode else "",
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-examples", type=int, default=30)
    p.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    p.add_argument("--workers", type=int, default=1, help="schemathesis workers per run")
    p.add_argument("--products", type=int, default=50, help="demo products to seed")
    p.add_argument("--pg", action="store_true", help="PostgreSQL + Redis instead of the embedded SQLite")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()

    data = Path(tempfile.mkdtemp(prefix="bazaar-fuzz-"))
    port = free_port()
    env = {
        **os.environ,
        "BAZAAR_DATA_DIR": str(data),
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": str(args.products),
        "BAZAAR_RATE_LIMITS": "off",
        "BAZAAR_PASSWORD_HASH_PROFILE": "fast",
        "BAZAAR_ACCESS_LOG": "true",
        "BAZAAR_LOG_LEVEL": "INFO",
    }
    for name in ("BAZAAR_DATABASE_URL", "BAZAAR_REDIS_URL"):
        env.pop(name, None)
    if args.pg:
        env["BAZAAR_DATABASE_URL"] = fresh_postgres(args.pg_url, f"bazaar_fuzz_{port}")
        env["BAZAAR_REDIS_URL"] = args.redis_url
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    log = data / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(BIN / "bazaar"), "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {
        "backend": "postgresql+redis" if args.pg else "sqlite",
        "args": vars(args) | {"out": None},
    }
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit(f"the server did not become ready; see {log}")
        for role in ("buyer", "seller"):
            login = {"email": f"{role}@example.com", "password": "bazaar-demo"}
            token = httpx.post(f"{url}/api/v1/auth/login", json=login, timeout=30).json()["token"]
            before = served_requests(log)
            result = run_role(url, token, args)
            result["http_requests"] = served_requests(log) - before
            results[role] = result
            print(
                f"{results['backend']} {role}: {result['test_cases']} test cases, {result['http_requests']} HTTP "
                f"requests, {result['failures']} failures, {result['seconds']} s"
            )
            if result["exit_code"]:
                print(result["failures_text"][-4000:])
        answers = [line for line in log.read_text(errors="replace").splitlines() if '"msg": "request"' in line]
        # /readyz answers 503 until the node is ready, which the start-up above waits out; everything else counts.
        results["server_errors_5xx"] = sum(
            1 for line in answers if re.search(r'"status": 5\d\d', line) and '"path": "/readyz"' not in line
        )
        results["readyz_503_at_start"] = sum(
            1 for line in answers if '"path": "/readyz"' in line and '"status": 503' in line
        )
        print(
            f"answers of 5xx in the server's log: {results['server_errors_5xx']} "
            f"(and {results['readyz_503_at_start']} of /readyz while the node started)"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data, ignore_errors=True)
    out_path = args.out or RESULTS / ("fuzz_api-pg.json" if args.pg else "fuzz_api.json")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2))
    failed = any(results[r]["exit_code"] for r in ("buyer", "seller")) or results["server_errors_5xx"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
