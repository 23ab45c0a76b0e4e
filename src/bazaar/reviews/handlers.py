"""Review event consumers: a product's rating follows its reviews (a shared subscription: once per cluster)."""

from __future__ import annotations

from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.reviews import service

TOPICS = ("reviews.review_changed.v1",)


async def update_product_rating(uow: UnitOfWork, event: dict[str, Any]) -> None:
    # Recomputed from the reviews, not adjusted by the event: a replay or a reordering cannot skew it.
    await service.refresh_product_rating(uow=uow, product_id=event["key"])
