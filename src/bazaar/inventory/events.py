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
