"""Hold figures: reservation→purchase conversion, expiry rate, time to purchase and the adaptive hold TTL,
for a seller's offers and, for operators, the whole marketplace."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.inventory.hold_times import hold_report
from bazaar.inventory.schemas import HoldFiguresReport
from bazaar.web.api.deps import ContainerDep, CurrentAdmin, CurrentSeller, ReadUowDep

router = APIRouter(tags=["inventory"])


@router.get("/sellers/me/hold-figures", response_model=HoldFiguresReport)
async def seller_hold_figures(seller: CurrentSeller, uow: ReadUowDep, container: ContainerDep) -> HoldFiguresReport:
    assert seller.seller_id is not None
    return await hold_report(uow=uow, policy=container.hold_durations.policy, seller_id=seller.seller_id)


@router.get("/admin/hold-figures", response_model=HoldFiguresReport)
async def marketplace_hold_figures(admin: CurrentAdmin, uow: ReadUowDep, container: ContainerDep) -> HoldFiguresReport:
    return await hold_report(uow=uow, policy=container.hold_durations.policy)
