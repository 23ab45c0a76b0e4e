"""A request's admission slot given up while it waits on another service (kernel.waiting), and never leaked."""

from __future__ import annotations

import asyncio

from bazaar.kernel.waiting import holding, reset, waiting_elsewhere
from bazaar.web.admission import AdmittedPlace, Lane


async def test_the_slot_is_free_while_waiting_elsewhere_and_taken_again_after() -> None:
    lane = Lane("checkout", 1)
    assert await lane.enter(0.1)
    place = AdmittedPlace(lane)
    token = holding(place)
    try:
        async with waiting_elsewhere():
            assert lane.in_flight == 0  # another request may work meanwhile
            assert await lane.enter(0.1)
            lane.leave()
        assert lane.in_flight == 1
    finally:
        reset(token)
        place.close()
    assert lane.in_flight == 0


async def test_a_task_outliving_its_request_takes_no_slot() -> None:
    lane = Lane("checkout", 1)
    assert await lane.enter(0.1)
    place = AdmittedPlace(lane)
    token = holding(place)
    gate = asyncio.Event()

    async def later() -> None:  # started by the request, still running after it answered
        await gate.wait()
        async with waiting_elsewhere():
            pass

    task = asyncio.create_task(later())  # copies the context: it sees the request's place
    reset(token)
    place.close()
    gate.set()
    await task
    assert lane.in_flight == 0


async def test_waiting_elsewhere_without_a_place_does_nothing() -> None:
    async with waiting_elsewhere():
        pass
