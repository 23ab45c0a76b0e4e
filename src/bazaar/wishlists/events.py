"""Wish list events: an alert decided for one buyer (notifications and email react to it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class ProductAlerted(Event):
    """A watched product came back in stock (`kind` back_in_stock) or got cheaper (price_drop)."""

    topic: ClassVar[str] = "wishlists.product_alert.v1"
    key_field: ClassVar[str] = "user_id"
    user_id: str
    product_id: str
    kind: str
    title: str
    price_amount: int | None
    previous_price_amount: int | None
    currency: str
