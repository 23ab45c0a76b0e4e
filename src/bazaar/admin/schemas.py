"""Admin schemas: what the operator sends and reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bazaar.kernel.schemas import MoneyModel
from bazaar.orders.schemas import OrderRead


def _reason(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("a reason is required")
    return value


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)

    _strip = field_validator("reason")(_reason)


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: MoneyModel
    reason: str = Field(min_length=1, max_length=2000)

    _strip = field_validator("reason")(_reason)


class BuyerRef(BaseModel):
    id: str
    email: str
    name: str
    is_guest: bool = False


class AdminOrderRead(OrderRead):
    buyer: BuyerRef


class AdminSellerRead(BaseModel):
    id: str
    user_id: str
    display_name: str
    status: str
    status_reason: str | None = None
    status_changed_at: datetime | None = None
    rating: float
    created_at: datetime
    balance: MoneyModel  # pending + available, from the seller's ledger
    open_disputes: int


class AdminProductRead(BaseModel):
    id: str
    status: str


class GoodwillRefundRead(BaseModel):
    id: str
    order_id: str
    amount: MoneyModel
    reason: str
    status: str
    created_at: datetime


class AdminActionRead(BaseModel):
    id: str
    admin_user_id: str
    admin_email: str | None = None
    action: str
    target_kind: str
    target_id: str
    reason: str
    details: dict[str, Any]
    created_at: datetime


class Figures(BaseModel):
    gmv: MoneyModel
    orders: int
    buyers: int
    sellers: int
    disputes_open: int
    reservation_to_purchase_ratio: float


class StatsRead(BaseModel):
    today: Figures
    last_30_days: Figures
