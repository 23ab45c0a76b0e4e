"""Reservation sweeper: expires holds past their expiry so abandoned checkouts give their units back."""

from __future__ import annotations

from bazaar.bootstrap import Container
from bazaar.inventory import service as inventory

BATCH = 500


async def run_once(container: Container) -> int:
    """Expire one batch of due holds; answers how many expired (any number of sweepers may run at once)."""
    async with container.uow() as uow:

        async def sweep() -> int:
            expired = await inventory.expire_due(uow=uow, limit=BATCH, sold_out=container.sold_out)
            await uow.commit()
            return expired

        return await uow.run(sweep)
