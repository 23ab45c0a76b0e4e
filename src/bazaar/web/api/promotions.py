"""Sellers' vouchers: create, list, withdraw."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.promotions import service
from bazaar.promotions.schemas import VoucherCreate, VoucherRead
from bazaar.web.api.deps import CurrentSeller, ReadUowDep, UowDep

router = APIRouter(tags=["promotions"])


@router.post("/sellers/me/vouchers", status_code=201, response_model=VoucherRead)
async def create_voucher(body: VoucherCreate, seller: CurrentSeller, uow: UowDep) -> VoucherRead:
    assert seller.seller_id is not None
    return await service.create_voucher(uow=uow, seller_id=seller.seller_id, data=body)


@router.get("/sellers/me/vouchers", response_model=list[VoucherRead])
async def my_vouchers(seller: CurrentSeller, uow: ReadUowDep) -> list[VoucherRead]:
    assert seller.seller_id is not None
    return await service.list_vouchers(uow=uow, seller_id=seller.seller_id)


@router.post("/sellers/me/vouchers/{voucher_id}/disable", response_model=VoucherRead)
async def disable_voucher(voucher_id: str, seller: CurrentSeller, uow: UowDep) -> VoucherRead:
    assert seller.seller_id is not None
    return await service.disable_voucher(uow=uow, seller_id=seller.seller_id, voucher_id=voucher_id)
