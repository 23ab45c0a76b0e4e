"""Buyers' conveniences: the address book, the wish list and "notify me", recently viewed, email preferences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from bazaar.addresses import service as addresses
from bazaar.addresses.schemas import AddressCreate, AddressRead, AddressUpdate
from bazaar.kernel.schemas import Page
from bazaar.mail import service as mail
from bazaar.mail.schemas import PreferencesRead, PreferencesUpdate
from bazaar.web.api.deps import CurrentUser, ReadUowDep, UowDep
from bazaar.wishlists import service as wishlists
from bazaar.wishlists.schemas import RecentlyViewedRead, StockAlertRead, WishlistAdd, WishlistItemRead

router = APIRouter(tags=["buyers"])
PageNo = Annotated[int, Query(ge=1, le=10_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]


@router.get("/me/addresses", response_model=list[AddressRead])
async def list_addresses(principal: CurrentUser, uow: ReadUowDep) -> list[AddressRead]:
    return await addresses.list_addresses(uow=uow, user_id=principal.user_id)


@router.post("/me/addresses", status_code=201, response_model=AddressRead)
async def add_address(body: AddressCreate, principal: CurrentUser, uow: UowDep) -> AddressRead:
    return await addresses.add_address(uow=uow, user_id=principal.user_id, data=body)


@router.patch("/me/addresses/{address_id}", response_model=AddressRead)
async def update_address(address_id: str, body: AddressUpdate, principal: CurrentUser, uow: UowDep) -> AddressRead:
    return await addresses.update_address(uow=uow, user_id=principal.user_id, address_id=address_id, data=body)


@router.delete("/me/addresses/{address_id}", status_code=204)
async def delete_address(address_id: str, principal: CurrentUser, uow: UowDep) -> Response:
    await addresses.delete_address(uow=uow, user_id=principal.user_id, address_id=address_id)
    return Response(status_code=204)


@router.get("/me/wishlist", response_model=Page[WishlistItemRead])
async def wishlist(
    principal: CurrentUser, uow: ReadUowDep, page: PageNo = 1, per_page: PerPage = 20
) -> Page[WishlistItemRead]:
    return await wishlists.list_wishlist(uow=uow, user_id=principal.user_id, page=page, per_page=per_page)


@router.post("/me/wishlist", status_code=201, response_model=WishlistItemRead)
async def wish(body: WishlistAdd, principal: CurrentUser, uow: UowDep) -> WishlistItemRead:
    return await wishlists.add_to_wishlist(uow=uow, user_id=principal.user_id, product_id=body.product_id)


@router.delete("/me/wishlist/{product_id}", status_code=204)
async def unwish(product_id: str, principal: CurrentUser, uow: UowDep) -> Response:
    await wishlists.remove_from_wishlist(uow=uow, user_id=principal.user_id, product_id=product_id)
    return Response(status_code=204)


@router.get("/me/stock-alerts", response_model=Page[StockAlertRead])
async def stock_alerts(
    principal: CurrentUser, uow: ReadUowDep, page: PageNo = 1, per_page: PerPage = 20
) -> Page[StockAlertRead]:
    return await wishlists.list_stock_alerts(uow=uow, user_id=principal.user_id, page=page, per_page=per_page)


@router.post("/me/stock-alerts", status_code=201, response_model=StockAlertRead)
async def notify_me(body: WishlistAdd, principal: CurrentUser, uow: UowDep) -> StockAlertRead:
    """ "Notify me": one alert (notification and email) when this out-of-stock product is back."""
    return await wishlists.request_stock_alert(uow=uow, user_id=principal.user_id, product_id=body.product_id)


@router.delete("/me/stock-alerts/{product_id}", status_code=204)
async def cancel_notify_me(product_id: str, principal: CurrentUser, uow: UowDep) -> Response:
    await wishlists.cancel_stock_alert(uow=uow, user_id=principal.user_id, product_id=product_id)
    return Response(status_code=204)


@router.get("/me/recently-viewed", response_model=Page[RecentlyViewedRead])
async def recently_viewed(
    principal: CurrentUser, uow: ReadUowDep, page: PageNo = 1, per_page: PerPage = 20
) -> Page[RecentlyViewedRead]:
    return await wishlists.recently_viewed(uow=uow, user_id=principal.user_id, page=page, per_page=per_page)


@router.get("/me/preferences", response_model=PreferencesRead)
async def preferences(principal: CurrentUser, uow: ReadUowDep) -> PreferencesRead:
    return await mail.email_preferences(uow=uow, email=principal.email)


@router.patch("/me/preferences", response_model=PreferencesRead)
async def update_preferences(body: PreferencesUpdate, principal: CurrentUser, uow: UowDep) -> PreferencesRead:
    return await mail.update_preferences(uow=uow, email=principal.email, changes=body.email)
