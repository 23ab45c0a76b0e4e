"""The checkout lane's spare slots: taken only while the process has headroom, one line for all slots."""

from __future__ import annotations

import asyncio
import random

from bazaar.web.admission import LAG_BUDGET_SECONDS, Lane, Lanes
from bazaar.web.loop_lag import LoopLag


class Headroom:
    def __init__(self) -> None:
        self.room = True

    def __call__(self) -> bool:
        return self.room


def _lane() -> tuple[Lane, Headroom]:
    headroom = Headroom()
    return Lane("checkout", 1, spare=1, headroom=headroom), headroom


async def test_a_process_with_headroom_works_on_a_spare_slot() -> None:
    lane, _ = _lane()
    assert await lane.enter(0.1)
    assert await lane.enter(0.1)  # let in at once, on the spare slot
    assert lane.in_flight == 2 and lane.figures.widened == 1 and lane.figures.queued == 0
    assert not await lane.enter(0.05)  # no third
    assert lane.figures.refused == 1
    lane.leave()
    lane.leave()
    assert lane.in_flight == 0


async def test_without_headroom_the_lane_keeps_to_its_size() -> None:
    lane, headroom = _lane()
    headroom.room = False
    assert await lane.enter(0.1)
    assert not await lane.enter(0.05)  # turned away after its wait, as with one slot
    waiting = asyncio.create_task(lane.enter(5))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    lane.leave()
    assert await waiting and lane.in_flight == 1 and lane.figures.widened == 0


async def test_headroom_coming_back_lets_the_one_waiting_in_without_a_slot_left_free() -> None:
    lane, headroom = _lane()
    headroom.room = False
    assert await lane.enter(0.1)
    waiting = asyncio.create_task(lane.enter(5))
    await asyncio.sleep(0.01)
    headroom.room = True
    lane.wake()  # what the loop's sampler does after each sample
    assert await waiting
    assert lane.in_flight == 2 and lane.figures.widened == 1


async def test_a_request_coming_in_with_headroom_never_passes_one_waiting() -> None:
    lane, headroom = _lane()
    headroom.room = False
    assert await lane.enter(0.1)
    first = asyncio.create_task(lane.enter(5))
    await asyncio.sleep(0.01)
    headroom.room = True  # room for one more, and the one waiting gets it
    second = asyncio.create_task(lane.enter(5))
    await asyncio.sleep(0.01)
    assert first.done() and first.result()
    assert not second.done()  # no room left for the newcomer: it waits behind
    lane.leave()
    assert await second
    assert lane.in_flight == 2


async def test_a_request_cancelled_in_line_takes_no_slot_and_the_next_goes_in() -> None:
    lane, headroom = _lane()
    headroom.room = False
    assert await lane.enter(0.1)
    cancelled = asyncio.create_task(lane.enter(5))
    after = asyncio.create_task(lane.enter(5))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.sleep(0)
    lane.leave()
    assert await after
    assert lane.in_flight == 1
    lane.leave()
    assert lane.in_flight == 0 and len(lane._line) == 0


async def test_a_slot_given_as_the_request_is_cancelled_goes_to_the_next() -> None:
    lane, headroom = _lane()
    headroom.room = False
    assert await lane.enter(0.1)
    unlucky = asyncio.create_task(lane.come_back())
    after = asyncio.create_task(lane.enter(5))
    await asyncio.sleep(0.01)
    lane.leave()  # the slot is given to `unlucky`...
    unlucky.cancel()  # ...which is cancelled before it runs again
    await asyncio.gather(unlucky, return_exceptions=True)
    assert await after
    assert lane.in_flight == 1


async def test_a_wait_ending_as_a_slot_is_left_free_leaks_nothing() -> None:
    lane, headroom = _lane()
    headroom.room = False
    assert await lane.enter(0.1)
    late = asyncio.create_task(lane.enter(0.02))
    await asyncio.sleep(0.02)  # its timer and the slot left free below fall in the same pass of the loop
    lane.leave()
    admitted = await late
    assert lane.in_flight == (1 if admitted else 0) and len(lane._line) == 0


async def test_those_turned_away_or_cancelled_leave_the_line() -> None:
    lane, headroom = _lane()
    headroom.room = False
    assert await lane.enter(0.1)
    assert not await lane.enter(0.01)
    cancelled = asyncio.create_task(lane.enter(5))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert len(lane._line) == 0


async def test_many_requests_at_random_never_pass_the_bound_nor_leak_a_slot() -> None:
    rng = random.Random(7)
    lane, headroom = _lane()
    most = 0

    async def one() -> None:
        nonlocal most
        if await lane.enter(rng.choice([0.001, 0.01, 0.05])):
            try:
                most = max(most, lane.in_flight)
                await asyncio.sleep(rng.random() / 100)
            finally:
                lane.leave()  # as the middleware's place does, cancelled or not

    async def flip() -> None:
        for _ in range(50):
            headroom.room = rng.random() < 0.5
            lane.wake()
            await asyncio.sleep(0.002)

    tasks = [asyncio.create_task(one()) for _ in range(200)]
    await asyncio.sleep(0.005)
    for task in rng.sample(tasks, 20):
        task.cancel()
    await asyncio.gather(flip(), *tasks, return_exceptions=True)
    assert most <= 2
    assert lane.in_flight == 0 and len(lane._line) == 0


def test_the_loops_lag_decides_the_headroom() -> None:
    lag = LoopLag()
    lanes = Lanes(checkouts=1, writes=8, wait=1, checkouts_with_headroom=2, loop_lag=lag)
    lane = lanes.checkout
    assert lane is not None and lane.spare == 1 and lane.headroom is not None
    assert lane.headroom()  # no sample yet
    lag.samples.append(LAG_BUDGET_SECONDS * 2)
    assert not lane.headroom()
    lag.samples.extend([0.0] * 10)  # half a second later, keeping time
    assert lane.headroom()
    assert lane.wake in lag.listeners


def test_no_spare_slot_unless_asked_for_more_than_the_size() -> None:
    lag = LoopLag()
    assert Lanes(checkouts=2, writes=8, wait=1, checkouts_with_headroom=1, loop_lag=lag).checkout.spare == 0  # type: ignore[union-attr]
    assert Lanes(checkouts=1, writes=8, wait=1, checkouts_with_headroom=2).checkout.spare == 0  # type: ignore[union-attr]
    assert Lanes(checkouts=0, writes=8, wait=1, checkouts_with_headroom=2, loop_lag=lag).checkout is None
    assert Lanes(checkouts=1, writes=8, wait=1, checkouts_with_headroom=2, loop_lag=lag).write.spare == 0  # type: ignore[union-attr]
