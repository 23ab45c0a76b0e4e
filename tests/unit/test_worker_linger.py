"""The event workers' linger: a round that handled a trickle waits a moment, so the next carries more events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bazaar.workers.runner import Worker, run_worker


async def _rounds(worker_done: int, *, linger: float, full: int, seconds: float) -> tuple[int, float]:
    rounds = 0

    async def run_once(container: Any) -> int:
        nonlocal rounds
        rounds += 1
        await asyncio.sleep(0)
        return worker_done

    stop = asyncio.Event()
    worker = Worker("events", run_once, idle_seconds=5.0, linger_seconds=linger, full=full)
    task = asyncio.create_task(run_worker(None, worker, stop))  # type: ignore[arg-type]
    await asyncio.sleep(seconds)
    stop.set()
    began = time.monotonic()
    await task
    return rounds, time.monotonic() - began


async def test_a_trickle_of_events_is_taken_in_rounds_a_linger_apart() -> None:
    rounds, _ = await _rounds(3, linger=0.1, full=100, seconds=0.35)
    assert 2 <= rounds <= 5  # a round, then one every 0.1 s, not thousands one after another


async def test_a_full_batch_is_followed_by_the_next_round_at_once() -> None:
    rounds, _ = await _rounds(100, linger=0.1, full=100, seconds=0.2)
    assert rounds > 20  # a backlog is worked off without pauses


async def test_stopping_ends_a_linger_at_once() -> None:
    _, waited = await _rounds(1, linger=5.0, full=100, seconds=0.05)
    assert waited < 1.0


async def test_without_a_linger_a_round_that_did_work_is_followed_at_once() -> None:
    rounds, _ = await _rounds(1, linger=0.0, full=100, seconds=0.1)
    assert rounds > 20
