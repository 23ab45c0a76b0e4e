"""Inventory events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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
    """Units of an offer are held for a checkout until `expires_at` (ISO-8601). Emitted by earlier versions (now
    `ReservationsMade`); consumers still read it."""

    topic: ClassVar[str] = "inventory.reservation_made.v1"
    key_field: ClassVar[str] = "offer_id"
    reservation_id: str
    offer_id: str
    seller_id: str
    quantity: int
    expires_at: str


@dataclass(frozen=True)
class ReservationsMade(Event):
    """One request held units of one or more offers until `expires_at` (ISO-8601): one event for all its lines,
    each hold a `Hold` dict (reservation_id, offer_id, seller_id, quantity). Keyed by the first offer in id order,
    so one offer's holds of one-line requests (a flash sale's) stay in one partition, in order."""

    topic: ClassVar[str] = "inventory.reservations_made.v1"
    key_field: ClassVar[str] = "offer_id"
    offer_id: str
    expires_at: str
    holds: list[dict[str, Any]]


@dataclass(frozen=True)
class ReservationsCommitted(Event):
    """Held units of one or more offers were sold together (one checkout's order): one event for all of them,
    each hold a `Hold` dict as in `ReservationsMade`. Keyed like it."""

    topic: ClassVar[str] = "inventory.reservations_committed.v1"
    key_field: ClassVar[str] = "offer_id"
    offer_id: str
    holds: list[dict[str, Any]]


def hold(reservation_id: str, offer_id: str, seller_id: str, quantity: int) -> dict[str, Any]:
    """One hold as the batched events carry it (the fields of the one-hold events)."""
    return {"reservation_id": reservation_id, "offer_id": offer_id, "seller_id": seller_id, "quantity": quantity}


def holds_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The holds an event names, whether it carries one (`reservation_*.v1`) or several (`reservations_*.v1`)."""
    payload = event["payload"]
    return list(payload["holds"]) if "holds" in payload else [payload]


@dataclass(frozen=True)
class ReservationCommitted(Event):
    """Held units were sold: they left on-hand stock for good. Emitted by earlier versions (now
    `ReservationsCommitted`); consumers still read it."""

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
