"""Sellers' money: balance, ledger entries, payouts and where payouts go."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bazaar.kernel.schemas import Page
from bazaar.ledger import queries, service
from bazaar.ledger.schemas import BalanceRead, EntryRead, PayoutDestinationIn, PayoutRead
from bazaar.web.api.deps import CurrentSeller, ReadUowDep, UowDep

router = APIRouter(tags=["sellers' money"])
PageNo = Annotated[int, Query(ge=1, le=10_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]


@router.get("/sellers/me/balance", response_model=BalanceRead)
async def balance(seller: CurrentSeller, uow: ReadUowDep) -> BalanceRead:
    assert seller.seller_id is not None
    return await service.balance(uow=uow, seller_id=seller.seller_id)


@router.get("/sellers/me/ledger", response_model=Page[EntryRead])
async def ledger(seller: CurrentSeller, uow: ReadUowDep, page: PageNo = 1, per_page: PerPage = 20) -> Page[EntryRead]:
    assert seller.seller_id is not None
    return await queries.seller_entries(uow=uow, seller_id=seller.seller_id, page=page, per_page=per_page)


@router.get("/sellers/me/payouts", response_model=Page[PayoutRead])
async def payouts(seller: CurrentSeller, uow: ReadUowDep, page: PageNo = 1, per_page: PerPage = 20) -> Page[PayoutRead]:
    assert seller.seller_id is not None
    return await queries.payouts(uow=uow, seller_id=seller.seller_id, page=page, per_page=per_page)


@router.put("/sellers/me/payout-account", response_model=PayoutDestinationIn)
async def payout_account(body: PayoutDestinationIn, seller: CurrentSeller, uow: UowDep) -> PayoutDestinationIn:
    assert seller.seller_id is not None
    await service.set_payout_destination(uow=uow, seller_id=seller.seller_id, account=body.account)
    return body
