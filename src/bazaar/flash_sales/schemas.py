"""Flash-sale schemas: what sellers send, what buyers and the queue answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bazaar.flash_sales.limits import MAX_PER_BUYER, MAX_PRICE, MAX_UNITS
from bazaar.kernel.schemas import MoneyModel, WholeNumber

SaleStatus = Literal["scheduled", "live", "sold_out", "ended", "cancelled"]
TicketStatus = Literal["waiting", "admitted", "expired", "sold_out"]


class SalePrice(MoneyModel):
    amount: int = Field(strict=True, ge=0, le=MAX_PRICE)


class FlashSaleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer_id: str = Field(min_length=1, max_length=32)
    price: SalePrice
    units: WholeNumber = Field(ge=1, le=MAX_UNITS)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    per_buyer_limit: WholeNumber = Field(ge=1, le=MAX_PER_BUYER)


class FlashSaleRead(BaseModel):
    id: str
    offer_id: str
    product_id: str
    seller_id: str
    status: SaleStatus
    price: MoneyModel
    regular_price: MoneyModel | None = None
    units: int
    units_left: int
    units_sold: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    seconds_to_start: int
    seconds_to_end: int


class FlashSalePage(BaseModel):
    items: list[FlashSaleRead]
    total: int
    page: int
    per_page: int


class TicketRead(BaseModel):
    ticket: str
    sale_id: str
    status: TicketStatus
    position: int = Field(description="1 = next to be admitted; 0 once admitted or no longer waiting")
    estimated_wait_seconds: int
    admission_token: str | None = None
    admitted_until: datetime | None = None
    poll_after_seconds: int = Field(
        default=2,
        description="when to look again: soon near the front, less often far back (never past the idle limit)",
    )


class SaleHoldRead(BaseModel):
    """A flash-sale hold as checkout adopts it: the reservation and the sale price."""

    reservation_id: str
    sale_id: str
    offer_id: str
    quantity: int
    price_amount: int
    currency: str
