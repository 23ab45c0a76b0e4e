"""Inventory schemas: reservations and bucket settings as the API and other contexts see them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from bazaar.inventory.stock import MAX_BUCKETS, MAX_UNITS


class ReservationRead(BaseModel):
    id: str
    offer_id: str
    quantity: int
    status: str
    expires_at: datetime
    checkout_id: str | None = None
    user_id: str | None = None


class ReservationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer_id: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=MAX_UNITS)
    admission_token: str | None = Field(
        default=None, min_length=1, max_length=300, description="a flash sale's admission (from its queue)"
    )


class BucketsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    buckets: int = Field(ge=1, le=MAX_BUCKETS)


class OfferStockRead(BaseModel):
    offer_id: str
    buckets: int
    quantity: int
    available_quantity: int
    availability: str


class ReservationStats(BaseModel):
    """A seller's reservations so far; the ratio is committed / made (0 when none were made)."""

    made: int
    committed: int
    released: int
    expired: int
    held: int
    reservation_to_purchase_ratio: float


class HoldFiguresRead(BaseModel):
    """Holds of one offer (offer_id null: all of them) over the last 7 days, and how long a new hold lasts."""

    offer_id: str | None
    holds: int
    purchased: int
    released: int
    expired: int
    conversion_rate: float | None = Field(description="purchased / holds that ended")
    expiry_rate: float | None = Field(description="expired / holds that ended")
    time_to_purchase_p50_seconds: float | None
    time_to_purchase_p95_seconds: float | None
    hold_ttl_seconds: int


class HoldFiguresReport(BaseModel):
    overall: HoldFiguresRead
    offers: list[HoldFiguresRead]
