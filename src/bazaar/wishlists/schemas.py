"""Wish list schemas: wished products, "notify me" requests and recently viewed products, as buyers see them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from bazaar.catalog.schemas import ProductSummary

MAX_WATCHES = 500  # wished or "notify me" products per buyer
RECENTLY_VIEWED_KEPT = 50  # per buyer; older views are forgotten


class WishlistAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=32)


class WishlistItemRead(BaseModel):
    product_id: str
    added_at: datetime
    product: ProductSummary
    price_when_added: int | None = Field(description="lowest price (minor units) the buyer has been shown")
    notify_when_back: bool


class StockAlertRead(BaseModel):
    product_id: str
    requested_at: datetime
    product: ProductSummary


class RecentlyViewedRead(BaseModel):
    product_id: str
    viewed_at: datetime
    product: ProductSummary
