"""Order events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class OrderPlaced(Event):
    topic: ClassVar[str] = "orders.order_placed.v1"
    id: str
    user_id: str
    seller_ids: tuple[str, ...]
    total_amount: int
    currency: str


@dataclass(frozen=True)
class OrderStatusChanged(Event):
    topic: ClassVar[str] = "orders.order_status_changed.v1"
    id: str
    user_id: str
    status: str
    previous_status: str


@dataclass(frozen=True)
class ReturnRequested(Event):
    topic: ClassVar[str] = "orders.return_requested.v1"
    id: str
    order_id: str
    user_id: str
    seller_id: str


@dataclass(frozen=True)
class ReturnReceived(Event):
    topic: ClassVar[str] = "orders.return_received.v1"
    id: str
    order_id: str
    user_id: str
    seller_id: str
    refund_amount: int
    currency: str
