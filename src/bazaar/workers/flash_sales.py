"""Flash-sale workers: the scheduler announcing sales that open and close, and the waiting room's admitter."""

from __future__ import annotations

from datetime import datetime

from bazaar.bootstrap import Container
from bazaar.flash_sales import queue
from bazaar.flash_sales import service as flash_sales


async def run_scheduler(container: Container) -> int:
    """Announce sales whose window opened or closed; any number of schedulers may run at once."""
    async with container.uow() as uow:
        return await flash_sales.announce_due(uow=uow)


async def run_admitter(container: Container) -> int:
    """One admission round over every open sale; admitters in several processes take turns per sale."""

    async def lock(name: str) -> bool:
        return await container.cache.add(name, b"1", 5.0)

    async def unlock(name: str) -> None:
        await container.cache.delete(name)

    async def last_round(sale_id: str, now: datetime) -> float | None:
        """Seconds since this sale's previous round that let buyers in (on any node: the shared cache), and
        this round recorded."""
        key = f"flash-admitter-last:{sale_id}"
        previous = await container.cache.get(key)
        await container.cache.set(key, str(now.timestamp()).encode(), 60.0)
        return None if previous is None else now.timestamp() - float(previous)

    return await queue.admit_buyers(
        read_uow=container.read_uow,
        room=container.waiting_room,
        policy=container.queue_policy,
        lock=lock,
        unlock=unlock,
        last_round=last_round,
    )
