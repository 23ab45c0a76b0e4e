"""Flash-sale events, keyed by product id so product pages and search refresh when a sale changes state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class SaleScheduled(Event):
    topic: ClassVar[str] = "flash_sales.sale_scheduled.v1"
    key_field: ClassVar[str] = "product_id"
    sale_id: str
    offer_id: str
    product_id: str
    seller_id: str
    starts_at: str
    ends_at: str


@dataclass(frozen=True)
class SaleStarted(Event):
    topic: ClassVar[str] = "flash_sales.sale_started.v1"
    key_field: ClassVar[str] = "product_id"
    sale_id: str
    offer_id: str
    product_id: str


@dataclass(frozen=True)
class SaleEnded(Event):
    """The window closed or the seller cancelled the sale (`reason`: ended | cancelled)."""

    topic: ClassVar[str] = "flash_sales.sale_ended.v1"
    key_field: ClassVar[str] = "product_id"
    sale_id: str
    offer_id: str
    product_id: str
    reason: str
    units_sold: int
