"""Sale prices: switches offers to their sale price when a sale starts and back when it ends."""

from __future__ import annotations

from bazaar.bootstrap import Container
from bazaar.catalog import sales


async def run_once(container: Container) -> int:
    async with container.uow() as uow:
        switched = await sales.switch_due_sales(uow=uow)
        await uow.commit()
        return switched
