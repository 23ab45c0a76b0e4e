"""Flash-sale endpoints: sellers schedule and cancel sales; anyone reads them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from bazaar.flash_sales import queue, service
from bazaar.flash_sales.schemas import FlashSaleCreate, FlashSalePage, FlashSaleRead, TicketRead
from bazaar.web.api.deps import ContainerDep, CurrentSeller, CurrentUser, ReadUowDep, UowDep
from bazaar.web.arrival import arrival_time

router = APIRouter(tags=["flash sales"])
PageQ = Annotated[int, Query(ge=1, le=10_000)]
PerPageQ = Annotated[int, Query(ge=1, le=100)]


@router.post("/sellers/me/flash-sales", status_code=201, response_model=FlashSaleRead)
async def create_sale(
    body: FlashSaleCreate, seller: CurrentSeller, uow: UowDep, container: ContainerDep
) -> FlashSaleRead:
    assert seller.seller_id is not None
    sale = await service.create_sale(uow=uow, seller_id=seller.seller_id, data=body)
    container.flash_calendar.forget()
    return sale


@router.get("/sellers/me/flash-sales", response_model=FlashSalePage)
async def my_sales(seller: CurrentSeller, uow: ReadUowDep, page: PageQ = 1, per_page: PerPageQ = 20) -> FlashSalePage:
    assert seller.seller_id is not None
    return await service.list_sales(uow=uow, seller_id=seller.seller_id, page=page, per_page=per_page)


@router.post("/sellers/me/flash-sales/{sale_id}/cancel", response_model=FlashSaleRead)
async def cancel_sale(sale_id: str, seller: CurrentSeller, uow: UowDep, container: ContainerDep) -> FlashSaleRead:
    assert seller.seller_id is not None
    sale = await service.cancel_sale(uow=uow, seller_id=seller.seller_id, sale_id=sale_id)
    container.flash_calendar.forget()
    return sale


@router.get("/flash-sales", response_model=FlashSalePage)
async def list_sales(
    uow: ReadUowDep,
    product_id: Annotated[str | None, Query(max_length=32)] = None,
    page: PageQ = 1,
    per_page: PerPageQ = 20,
) -> FlashSalePage:
    """Sales not yet ended (of one product, or all), soonest first."""
    return await service.list_sales(uow=uow, product_id=product_id, current=True, page=page, per_page=per_page)


@router.get("/flash-sales/{sale_id}", response_model=FlashSaleRead)
async def get_sale(sale_id: str, uow: ReadUowDep) -> FlashSaleRead:
    return await service.get_sale(uow=uow, sale_id=sale_id)


@router.post("/flash-sales/{sale_id}/queue", status_code=201, response_model=TicketRead)
async def join_queue(sale_id: str, request: Request, principal: CurrentUser, container: ContainerDep) -> TicketRead:
    """Take a place in a live sale's queue; joining again (from any device) answers the same ticket."""
    return await queue.join_queue(
        arrived=arrival_time(request.scope),
        room=container.waiting_room,
        calendar=container.flash_calendar,
        read_uow=container.read_uow,
        policy=container.queue_policy,
        sale_id=sale_id,
        buyer_id=principal.user_id,
    )


@router.get("/flash-sales/{sale_id}/queue/{ticket}", response_model=TicketRead)
async def look_ticket(sale_id: str, ticket: str, principal: CurrentUser, container: ContainerDep) -> TicketRead:
    """Poll it: a waiting ticket not polled for `BAZAAR_FLASH_QUEUE_IDLE_SECONDS` loses its place."""
    return await queue.look_ticket(
        room=container.waiting_room,
        calendar=container.flash_calendar,
        read_uow=container.read_uow,
        policy=container.queue_policy,
        sale_id=sale_id,
        ticket_id=ticket,
        buyer_id=principal.user_id,
    )


@router.delete("/flash-sales/{sale_id}/queue/{ticket}", status_code=204, response_class=Response)
async def leave_queue(sale_id: str, ticket: str, principal: CurrentUser, container: ContainerDep) -> Response:
    await queue.leave_queue(room=container.waiting_room, sale_id=sale_id, ticket_id=ticket, buyer_id=principal.user_id)
    return Response(status_code=204)
