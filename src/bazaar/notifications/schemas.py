"""Notification schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bazaar.kernel.schemas import MoneyModel


class NotificationRead(BaseModel):
    id: str
    kind: str
    subject: str
    body: str
    created_at: datetime
    read: bool


class SellerStatsRead(BaseModel):
    orders: int
    units_sold: int
    revenue: MoneyModel
    reservations: int
    reservation_to_purchase_ratio: float | None
