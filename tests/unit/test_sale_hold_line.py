"""The per-process line in front of a sale's holds: at most `size` at the database at once, in arrival order,
and nothing kept once a sale has no hold in line."""

from __future__ import annotations

import asyncio

import pytest

from bazaar.flash_sales.holds import SaleHoldLine


async def test_at_most_size_holds_of_one_sale_run_at_once_in_arrival_order() -> None:
    line = SaleHoldLine(size=2)
    inside, most, order = 0, 0, []

    async def hold(n: int, sale: str) -> None:
        nonlocal inside, most
        async with line.turn(sale):
            inside += 1
            most = max(most, inside)
            order.append(n)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(hold(n, "sale-a") for n in range(10)))
    assert most == 2
    assert order == list(range(10))
    assert line.sales == 0


async def test_sales_do_not_wait_for_each_other() -> None:
    line = SaleHoldLine(size=1)
    async with line.turn("sale-a"):
        # another sale's hold gets through while sale-a's line is full
        async with asyncio.timeout(1):
            async with line.turn("sale-b"):
                assert line.sales == 2
    assert line.sales == 0


async def test_a_hold_that_fails_or_is_cancelled_leaves_the_line() -> None:
    line = SaleHoldLine(size=1)
    with pytest.raises(RuntimeError):
        async with line.turn("sale-a"):
            raise RuntimeError("refused")
    first = asyncio.Event()

    async def holder() -> None:
        async with line.turn("sale-a"):
            first.set()
            await asyncio.sleep(10)

    running = asyncio.create_task(holder())
    await first.wait()
    waiting = asyncio.create_task(holder())
    await asyncio.sleep(0.01)
    waiting.cancel()  # a buyer who gave up while in line
    running.cancel()
    await asyncio.gather(running, waiting, return_exceptions=True)
    assert line.sales == 0
    async with asyncio.timeout(1), line.turn("sale-a"):
        pass
