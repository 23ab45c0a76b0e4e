"""Order schemas: what buyers and sellers read about orders, shipments and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bazaar.kernel.schemas import MoneyModel


class DiscountRead(BaseModel):
    """A seller's voucher taken off the order (the promotions context's shape, repeated: orders own their copy)."""

    code: str
    seller_id: str
    amount: MoneyModel


class OrderLineRead(BaseModel):
    id: str
    offer_id: str
    sku_id: str
    product_id: str
    seller_id: str
    title: str
    quantity: int
    unit_price: MoneyModel
    line_total: MoneyModel
    tax: MoneyModel
    shipped_quantity: int
    returned_quantity: int
    discount: MoneyModel = Field(default_factory=lambda: MoneyModel(amount=0), description="this line's voucher share")
    image: str | None = Field(default=None, description="the product's main picture (thumbnail URL)")


class PaymentSummary(BaseModel):
    status: str
    authorized: MoneyModel
    captured: MoneyModel
    refunded: MoneyModel


class TrackingEventRead(BaseModel):
    status: str
    location: str | None
    at: datetime


class ShipmentRead(BaseModel):
    id: str
    order_id: str
    seller_id: str
    carrier: str
    tracking_number: str
    status: str
    line_ids: list[str]
    created_at: datetime
    delivered_at: datetime | None
    events: list[TrackingEventRead]


class ReturnLineRead(BaseModel):
    order_line_id: str
    quantity: int


class ReturnRead(BaseModel):
    id: str
    order_id: str
    seller_id: str
    status: str
    reason: str
    lines: list[ReturnLineRead]
    refund: MoneyModel
    created_at: datetime
    received_at: datetime | None


class HistoryRead(BaseModel):
    status: str
    at: datetime
    note: str | None = None


class DisputeSummary(BaseModel):
    """A chargeback on the order, as the disputes context reports it (filled in by the caller)."""

    id: str
    status: str
    amount: MoneyModel
    reason: str
    opened_at: datetime
    closed_at: datetime | None = None


class OrderRead(BaseModel):
    id: str
    status: str
    created_at: datetime
    buyer_id: str
    lines: list[OrderLineRead]
    subtotal: MoneyModel
    discounts: list[DiscountRead] = Field(default_factory=list, description="sellers' vouchers taken off")
    discount: MoneyModel = Field(default_factory=lambda: MoneyModel(amount=0))
    shipping: MoneyModel
    tax: MoneyModel
    total: MoneyModel
    shipping_address: dict[str, Any]
    shipping_method: str | None
    payment: PaymentSummary | None
    shipments: list[ShipmentRead]
    returns: list[ReturnRead]
    history: list[HistoryRead]
    disputes: list[DisputeSummary] = []


class OrderReceipt(BaseModel):
    """An order's lines and totals as a receipt (an email) shows them: no shipments, returns or payment."""

    id: str
    lines: list[OrderLineRead]
    subtotal: MoneyModel
    discount: MoneyModel
    shipping: MoneyModel
    tax: MoneyModel
    total: MoneyModel


class OrderSummary(BaseModel):
    id: str
    status: str
    created_at: datetime
    total: MoneyModel
    items: int
    titles: list[str]


class ReturnLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_line_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10_000)


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[ReturnLineIn] = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=2000)


class ShipmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    line_ids: list[str] = Field(min_length=1, max_length=200)
    carrier: str = Field(min_length=2, max_length=60)
    tracking_number: str = Field(min_length=4, max_length=80, pattern=r"^[A-Za-z0-9-]+$")


class TrackingEventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(pattern=r"^(in_transit|out_for_delivery|delivered)$")
    at: datetime | None = None
    location: str | None = Field(default=None, max_length=200)
