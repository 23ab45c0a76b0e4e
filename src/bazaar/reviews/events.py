"""Review events: keyed by product, so the rating consumer recomputes each product's summary in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class ReviewChanged(Event):
    """A review was written, edited, deleted, hidden or shown again."""

    topic: ClassVar[str] = "reviews.review_changed.v1"
    key_field: ClassVar[str] = "product_id"
    product_id: str
    review_id: str
    change: str  # written | edited | deleted | hidden | shown
