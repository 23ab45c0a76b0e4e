"""The checkout lane's spare slots: taken only while the process has headroom, one line for all slots."""

from __future__ import annotations

import asyncio
import random
import time

from bazaar.web.admission import LAG_BUDGET_SECONDS, Lane, Lanes, _turn_away
from bazaar.web.loop_lag import WINDOW, LoopLag


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


async def test_a_wait_ending_in_the_same_pass_as_a_slot_left_free_leaks_nothing() -> None:
    for turned_away_first in (True, False):
        lane, headroom = _lane()
        headroom.room = False
        assert await lane.enter(0.1)
        late = asyncio.create_task(lane.enter(60))
        await asyncio.sleep(0.01)
        (waiter,) = lane._line
        if turned_away_first:
            _turn_away(waiter)  # its wait ran out...
            lane.leave()  # ...and the slot was left free, before it ran again
            assert not await late and lane.in_flight == 0
        else:
            lane.leave()  # the slot given to it...
            _turn_away(waiter)  # ...and its timer, too late: it keeps the slot
            assert await late and lane.in_flight == 1
        assert len(lane._line) == 0


async def test_no_room_when_headroom_is_lost_with_the_spare_slot_taken() -> None:
    lane, headroom = _lane()
    assert await lane.enter(0.1)
    assert await lane.enter(0.1)  # the spare slot
    headroom.room = False
    waiting = asyncio.create_task(lane.enter(5))
    lane.leave()  # one of two leaves: one in flight, the lane's size
    await asyncio.sleep(0.01)
    assert not waiting.done() and lane.in_flight == 1
    lane.leave()
    assert await waiting and lane.in_flight == 1


async def test_a_request_coming_back_cancelled_in_line_takes_no_slot() -> None:
    lane, headroom = _lane()
    headroom.room = False
    assert await lane.enter(0.1)
    back = asyncio.create_task(lane.come_back())
    await asyncio.sleep(0.01)
    back.cancel()
    await asyncio.gather(back, return_exceptions=True)
    lane.leave()
    assert lane.in_flight == 0 and len(lane._line) == 0


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
    lane, headroom = _lane()
    most = 0
    plans = [(random.Random(n).choice([0.001, 0.01, 0.05]), random.Random(n).random() / 100) for n in range(200)]

    async def one(wait: float, work: float) -> None:
        nonlocal most
        if await lane.enter(wait):
            try:
                most = max(most, lane.in_flight)
                await asyncio.sleep(work)
            finally:
                lane.leave()  # as the middleware's place does, cancelled or not

    async def flip() -> None:
        for n in range(50):
            headroom.room = n % 3 != 0
            lane.wake()
            await asyncio.sleep(0.002)

    tasks = [asyncio.create_task(one(*plan)) for plan in plans]
    await asyncio.sleep(0.005)
    for task in tasks[::10]:
        task.cancel()
    await asyncio.gather(flip(), *tasks, return_exceptions=True)
    assert most == 2 and lane.figures.widened > 0 and lane.figures.refused > 0  # both happened
    assert lane.in_flight == 0 and len(lane._line) == 0


def test_the_loops_lag_decides_the_headroom() -> None:
    lag = LoopLag()
    lanes = Lanes(checkouts=1, writes=8, wait=1, checkouts_with_headroom=2, loop_lag=lag)
    lane = lanes.checkout
    assert lane is not None and lane.spare == 1 and lane.headroom is not None
    assert not lane.headroom()  # nothing known yet: no spare slot
    for _ in range(WINDOW - 1):
        lag.sample(0.0)
    assert not lane.headroom()  # not half a second of samples yet
    lag.sample(0.0)
    assert lane.headroom()
    lag.sample(LAG_BUDGET_SECONDS * 2)
    assert not lane.headroom()
    for _ in range(WINDOW):
        lag.sample(0.0)  # half a second later, keeping time
    assert lane.headroom()
    lag.sampled_at -= 5  # the sampler stopped: what it saw is stale
    assert not lane.headroom()
    assert lane.wake in lag.listeners


async def test_the_sampler_measures_the_loop_and_a_failing_listener_does_not_stop_it() -> None:
    lag = LoopLag(every=0.01, window=100)
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise RuntimeError("a listener that fails")

    lag.listeners.append(failing)
    stop = asyncio.Event()
    sampler = asyncio.create_task(lag.keep_sampling(stop))
    await asyncio.sleep(0.1)
    time.sleep(0.05)  # noqa: ASYNC251 -- the loop blocked on purpose: the next sample sees it late
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(sampler, 1)
    assert len(calls) >= 5  # called after every sample, failing or not
    assert max(lag.samples) >= 0.03  # the 50 ms the loop was blocked, seen by the sample after it


def test_no_spare_slot_unless_asked_for_more_than_the_size() -> None:
    lag = LoopLag()
    assert Lanes(checkouts=2, writes=8, wait=1, checkouts_with_headroom=1, loop_lag=lag).checkout.spare == 0  # type: ignore[union-attr]
    assert Lanes(checkouts=1, writes=8, wait=1, checkouts_with_headroom=2).checkout.spare == 0  # type: ignore[union-attr]
    assert Lanes(checkouts=0, writes=8, wait=1, checkouts_with_headroom=2, loop_lag=lag).checkout is None
    assert Lanes(checkouts=1, writes=8, wait=1, checkouts_with_headroom=2, loop_lag=lag).write.spare == 0  # type: ignore[union-attr]
