"""Catalog events: keyed by product id so the search indexer and page cache can re-read the product."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class ProductCreated(Event):
    topic: ClassVar[str] = "catalog.product_created.v1"
    key_field: ClassVar[str] = "product_id"
    product_id: str
    seller_id: str | None


@dataclass(frozen=True)
class ProductUpdated(Event):
    topic: ClassVar[str] = "catalog.product_updated.v1"
    key_field: ClassVar[str] = "product_id"
    product_id: str


@dataclass(frozen=True)
class OfferCreated(Event):
    topic: ClassVar[str] = "catalog.offer_created.v1"
    key_field: ClassVar[str] = "product_id"
    offer_id: str
    product_id: str
    seller_id: str


@dataclass(frozen=True)
class OfferUpdated(Event):
    """Price, shipping price or status changed (stock changes come as inventory.stock_changed.v1)."""

    topic: ClassVar[str] = "catalog.offer_updated.v1"
    key_field: ClassVar[str] = "product_id"
    offer_id: str
    product_id: str
