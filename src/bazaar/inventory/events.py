"""Inventory events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class StockChanged(Event):
    """An offer's sellable stock changed (restock, edit, sale, sell-out); search and pages refresh."""

    topic: ClassVar[str] = "inventory.stock_changed.v1"
    key_field: ClassVar[str] = "product_id"
    offer_id: str
    product_id: str
    on_hand: int
    available: int


@dataclass(frozen=True)
class ReservationMade(Event):
    """Units of an offer are held for a checkout until `expires_at` (ISO-8601)."""

    topic: ClassVar[str] = "inventory.reservation_made.v1"
    key_field: ClassVar[str] = "offer_id"
    reservation_id: str
    offer_id: str
    seller_id: str
    quantity: int
    expires_at: str


@dataclass(frozen=True)
class ReservationCommitted(Event):
    """Held units were sold: they left on-hand stock for good."""

    topic: ClassVar[str] = "inventory.reservation_committed.v1"
    key_field: ClassVar[str] = "offer_id"
    reservation_id: str
    offer_id: str
    seller_id: str
    quantity: int


@dataclass(frozen=True)
class ReservationReleased(Event):
    """A hold was given up (checkout failed or abandoned); its units are free again."""

    topic: ClassVar[str] = "inventory.reservation_released.v1"
    key_field: ClassVar[str] = "offer_id"
    reservation_id: str
    offer_id: str
    seller_id: str
    quantity: int


@dataclass(frozen=True)
class ReservationExpired(Event):
    """A hold ran past its expiry; the sweeper returned its units."""

    topic: ClassVar[str] = "inventory.reservation_expired.v1"
    key_field: ClassVar[str] = "offer_id"
    reservation_id: str
    offer_id: str
    seller_id: str
    quantity: int
