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


async def test_only_the_request_moves_its_slot_and_a_nested_wait_changes_nothing() -> None:
    lane = Lane("checkout", 1)
    assert await lane.enter(0.1)
    place = AdmittedPlace(lane)
    token = holding(place)
    try:

        async def helper() -> None:  # a task the request started, waiting on the provider too
            async with waiting_elsewhere():
                await asyncio.sleep(0)

        async with waiting_elsewhere():
            assert lane.in_flight == 0
            async with waiting_elsewhere():  # nested: still given up, not taken back early
                assert lane.in_flight == 0
            assert lane.in_flight == 0
            await asyncio.gather(helper(), helper())  # they neither give up nor take a slot
            assert lane.in_flight == 0
        assert lane.in_flight == 1
        await asyncio.gather(helper(), helper())  # while the request holds its slot: untouched
        assert lane.in_flight == 1
    finally:
        reset(token)
        place.close()
    assert lane.in_flight == 0


async def test_a_request_cancelled_while_waiting_elsewhere_does_not_queue_again() -> None:
    lane = Lane("checkout", 1)
    at_the_provider = asyncio.Event()

    async def request() -> None:
        assert await lane.enter(0.1)
        place = AdmittedPlace(lane)
        token = holding(place)
        try:
            async with waiting_elsewhere():
                at_the_provider.set()
                await asyncio.sleep(30)  # the provider is slow
        finally:
            reset(token)
            place.close()

    task = asyncio.create_task(request())
    await at_the_provider.wait()
    assert await lane.enter(0.1)  # another request works meanwhile and keeps the slot
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done, "the cancelled request queued for the slot instead of ending"
    assert lane.in_flight == 1  # the other request's alone
    lane.leave()
    assert lane.in_flight == 0
