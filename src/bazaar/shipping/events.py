"""Shipping events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class ShipmentCreated(Event):
    topic: ClassVar[str] = "shipping.shipment_created.v1"
    id: str
    order_id: str
    seller_id: str
    user_id: str
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class ShipmentDelivered(Event):
    topic: ClassVar[str] = "shipping.shipment_delivered.v1"
    id: str
    order_id: str
    seller_id: str
    user_id: str
