"""The fault suite's short form in CI (the full form: `bench/faults.py`; its table is in docs/RELIABILITY.md).

Mixed load against `serve --workers 2` on a private PostgreSQL and Redis with the provider in its own
process; Redis restarted without saving, PostgreSQL restarted, the provider stopped. After each: no
invariant violated, no event lost, no answer of 500, and the shop recovers. (kill -9 of a web process or
the worker and a stopped worker are in test_supervisor.py here, and in the full form.)"""

from __future__ import annotations

import asyncio

import pytest
from bench.faults import Plan, run


@pytest.mark.slow
def test_the_shop_loses_nothing_when_redis_postgresql_or_the_provider_goes_away() -> None:
    faults = ("restart Redis without saving", "restart PostgreSQL", "stop the payment provider")
    report = asyncio.run(run(Plan.short(), faults))
    for result in report["results"]:
        assert result["answers_500"] == 0, result
        assert not any(result["violations"].values()), result
        assert result["lost_events"] == 0, result
        # 10 s on an idle machine; the margin is for CI machines shared with other jobs.
        assert result["recovery_seconds"] is not None and result["recovery_seconds"] < 30, result
