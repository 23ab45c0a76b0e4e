"""Notification endpoints and the seller figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bazaar.kernel.schemas import Page
from bazaar.notifications import service
from bazaar.notifications.schemas import NotificationRead, SellerStatsRead
from bazaar.web.api.deps import CurrentSeller, CurrentUser, ReadUowDep, UowDep

router = APIRouter(tags=["notifications"])


@router.get("/notifications", response_model=Page[NotificationRead])
async def list_notifications(
    principal: CurrentUser,
    uow: ReadUowDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[NotificationRead]:
    return await service.list_notifications(uow=uow, user_id=principal.user_id, page=page, per_page=per_page)


@router.post("/notifications/read")
async def mark_read(principal: CurrentUser, uow: UowDep) -> dict[str, int]:
    return {"marked_read": await service.mark_all_read(uow=uow, user_id=principal.user_id)}


@router.get("/sellers/me/stats", response_model=SellerStatsRead)
async def seller_stats(principal: CurrentSeller, uow: ReadUowDep) -> SellerStatsRead:
    assert principal.seller_id is not None
    return await service.seller_stats(uow=uow, seller_id=principal.seller_id)
