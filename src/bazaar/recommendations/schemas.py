"""Recommendation schemas: shelves of products, each a product card (the catalog's summary)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bazaar.catalog.schemas import ProductSummary


class ProductRecommendations(BaseModel):
    bought_together: list[ProductSummary] = Field(description="ordered together with this product, most often first")
    similar: list[ProductSummary] = Field(description="alike in the search index: same kind of product")


class BuyerRecommendations(BaseModel):
    for_you: list[ProductSummary] = Field(description="from what you ordered and looked at")
    based_on: list[str] = Field(default_factory=list, description="the product ids these come from")
