"""Flash-sale workers: the scheduler announcing sales that open and close, and the waiting room's admitter."""

from __future__ import annotations

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

    return await queue.admit_buyers(
        read_uow=container.read_uow,
        room=container.waiting_room,
        policy=container.queue_policy,
        lock=lock,
        unlock=unlock,
    )
