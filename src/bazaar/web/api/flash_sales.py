"""Flash-sale endpoints: sellers schedule and cancel sales; anyone reads them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bazaar.flash_sales import service
from bazaar.flash_sales.schemas import FlashSaleCreate, FlashSalePage, FlashSaleRead
from bazaar.web.api.deps import ContainerDep, CurrentSeller, ReadUowDep, UowDep

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
