"""Cart schemas: what the cart endpoints read and answer (API.md, Cart)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bazaar.kernel.schemas import MoneyModel as MoneyRead
from bazaar.kernel.schemas import WholeNumber
from bazaar.promotions.schemas import DiscountRead

MAX_LINE_QUANTITY = 999
MAX_CART_LINES = 100  # different offers in one cart: every read prices every line afresh


Quantity = WholeNumber


class CartItemAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer_id: str = Field(min_length=1, max_length=32)
    quantity: Quantity = Field(ge=1, le=MAX_LINE_QUANTITY)


class CartItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: Quantity = Field(ge=0, le=MAX_LINE_QUANTITY, description="0 removes the line")


class CartItemRead(BaseModel):
    id: str
    offer_id: str
    product_id: str
    seller_id: str
    title: str
    quantity: int
    unit_price: MoneyRead
    price_at_add: MoneyRead
    price_changed: bool
    availability: str
    available_quantity: int
    line_total: MoneyRead
    image: str | None = Field(default=None, description="the product's main picture (thumbnail URL)")


class CartWarning(BaseModel):
    item_id: str | None
    code: str
    message: str


class CartRead(BaseModel):
    id: str | None = Field(description="the cart_id; null until the first item is added to an anonymous cart")
    items: list[CartItemRead]
    subtotal: MoneyRead
    discounts: list[DiscountRead] = Field(default_factory=list, description="sellers' vouchers on this cart")
    discount: MoneyRead = Field(default_factory=lambda: MoneyRead(amount=0))
    total: MoneyRead | None = Field(default=None, description="subtotal less discounts (before shipping and tax)")
    warnings: list[CartWarning]
