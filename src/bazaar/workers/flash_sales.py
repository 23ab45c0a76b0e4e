"""Flash-sale workers: the scheduler announcing sales that open and close."""

from __future__ import annotations

from bazaar.bootstrap import Container
from bazaar.flash_sales import service as flash_sales


async def run_scheduler(container: Container) -> int:
    """Announce sales whose window opened or closed; any number of schedulers may run at once."""
    async with container.uow() as uow:
        return await flash_sales.announce_due(uow=uow)
