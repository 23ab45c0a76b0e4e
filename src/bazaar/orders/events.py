"""Order events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class OrderPlaced(Event):
    """An order was placed. `lines` ({seller_id, product_id, quantity, title, amount, tax} each, amount being
    price x quantity plus the seller's shipping on their first line) spare consumers a read of the order; events of
    earlier versions have none (see orders.queries.placed_sellers)."""

    topic: ClassVar[str] = "orders.order_placed.v1"
    id: str
    user_id: str
    seller_ids: tuple[str, ...]
    total_amount: int
    currency: str
    lines: tuple[dict[str, Any], ...] = ()


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
