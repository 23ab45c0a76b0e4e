"""The soak benchmark's short form: mixed traffic against `serve --workers 2` on PostgreSQL + Redis, no 5xx."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, REDIS_URL, REQUIRE

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_short_soak_answers_no_5xx_and_sees_no_deadlock(tmp_path: Path) -> None:
    if not (PG_URL and REDIS_URL):
        if REQUIRE:
            pytest.fail("the soak needs BAZAAR_TEST_DATABASE_URL and BAZAAR_TEST_REDIS_URL")
        pytest.skip("the soak needs PostgreSQL and Redis")
    server, _, database = PG_URL.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")
    out = tmp_path / "soak.json"
    cmd = [
        sys.executable, "bench/soak.py", "--seconds", "30", "--shoppers", "8", "--products", "300",
        "--pg-url", server, "--redis-url", REDIS_URL, "--database", f"{database}_soak", "--out", str(out),
    ]  # fmt: skip
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    for endpoint in ("search", "product", "cart_add", "checkout"):
        assert result["endpoints"][endpoint]["requests"] > 0, endpoint
    assert result["server_errors_5xx"] == 0 and result["deadlocks"] == 0
    assert "201" in result["endpoints"]["checkout"]["statuses"], result["endpoints"]["checkout"]
    assert result["rss_timeline"] and result["cpu_ms_per_request"]
