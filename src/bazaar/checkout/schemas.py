"""Checkout schemas: quote and checkout requests, and what the API answers."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from bazaar.kernel.schemas import MoneyModel
from bazaar.promotions.schemas import DiscountRead
from bazaar.shipping.addresses import ShippingAddress
from bazaar.shipping.rates import METHODS

MethodName = Literal["standard", "expedited", "express", "international", "international_express"]


class CardInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    card_number: str = Field(min_length=12, max_length=23)
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: str = Field(pattern=r"^\d{3,4}$")

    @field_validator("card_number")
    @classmethod
    def _digits(cls, value: str) -> str:
        digits = value.replace(" ", "").replace("-", "")
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            raise ValueError("card_number must be 12 to 19 digits")
        return digits


SellerMethods = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=32)], MethodName] | None,
    Field(default=None, max_length=100, description="seller id -> shipping method, overriding shipping_method"),
]


class AddressChoice(BaseModel):
    """Where to ship: an address, or the id of one in the buyer's address book (exactly one of them)."""

    shipping_address: ShippingAddress | None = None
    shipping_address_id: str | None = Field(default=None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _one_address(self) -> AddressChoice:
        if (self.shipping_address is None) == (self.shipping_address_id is None):
            raise ValueError("give either shipping_address or shipping_address_id")
        return self


class QuoteRequest(AddressChoice):
    model_config = ConfigDict(extra="forbid")

    shipping_method: str | None = Field(default=None, json_schema_extra={"enum": list(METHODS)})
    shipping_methods: SellerMethods = None


class CheckoutRequest(AddressChoice):
    model_config = ConfigDict(extra="forbid")

    shipping_method: str = Field(json_schema_extra={"enum": list(METHODS)})
    shipping_methods: SellerMethods = None
    payment: CardInput
    email: EmailStr | None = Field(
        default=None, max_length=320, description="guest checkout (no login, with X-Cart-Id): the buyer's email"
    )
    flash_sale_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="check out the units you hold in this flash sale (at its price) instead of the cart",
    )

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else value

    def fingerprint(self) -> str:
        """A hash of the request, card included, so a reused key with another body is caught; no card is stored."""
        data = self.model_dump(mode="json")
        for optional in (
            "shipping_address_id",
            "email",
            "flash_sale_id",
        ):  # left out when absent: older requests hash as before
            if data[optional] is None:
                del data[optional]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class ShippingOptionRead(BaseModel):
    method: str
    carrier: str
    price: MoneyModel
    estimated_days: int


class QuoteLineRead(BaseModel):
    offer_id: str
    product_id: str
    seller_id: str
    title: str
    quantity: int
    unit_price: MoneyModel
    line_total: MoneyModel
    tax: MoneyModel
    discount: MoneyModel = Field(default_factory=lambda: MoneyModel(amount=0), description="this line's voucher share")


class SellerShipmentRead(BaseModel):
    seller_id: str
    shipping_method: str | None
    carrier: str | None
    price: MoneyModel | None
    estimated_days: int | None
    options: list[ShippingOptionRead]


class QuoteRead(BaseModel):
    lines: list[QuoteLineRead]
    shipping_method: str | None
    shipments: list[SellerShipmentRead]
    subtotal: MoneyModel
    discounts: list[DiscountRead] = Field(default_factory=list, description="sellers' vouchers applied to the cart")
    discount: MoneyModel = Field(default_factory=lambda: MoneyModel(amount=0), description="all discounts together")
    shipping: MoneyModel
    tax: MoneyModel
    total: MoneyModel
    shipping_options: list[ShippingOptionRead]


class FailureRead(BaseModel):
    code: str
    message: str


class StepRead(BaseModel):
    status: str
    at: datetime
    detail: dict[str, object] = Field(default_factory=dict)


class CheckoutRead(BaseModel):
    id: str
    status: str
    order_id: str | None
    failure: FailureRead | None
    steps: list[StepRead] = Field(default_factory=list)
    total: MoneyModel | None = None
    access_token: str | None = Field(
        default=None, description="guest checkout: shows the order at GET /orders/{order_id}?access=<token>"
    )
