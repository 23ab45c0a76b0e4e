"""The storefront's page routes, one module per area: browse, shop (cart and checkout), account, seller."""

from fastapi import APIRouter

from bazaar.web.storefront.pages import (
    account,
    browse,
    buyer,
    console,
    flash,
    media,
    promotions,
    reviews,
    seller,
    seller_flash,
    shop,
)
from bazaar.web.storefront.pages.common import error_page

router = APIRouter(include_in_schema=False)
for area in (browse, shop, account, buyer, seller, seller_flash, reviews, flash, console, promotions, media):
    router.include_router(area.router)

__all__ = ["error_page", "router"]
