"""Search schemas: the query a shopper sends and the page of results with facet counts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bazaar.catalog.schemas import CategoryRef, ImageUrls, MoneyModel
from bazaar.kernel.money import MAX_AMOUNT

Sort = Literal["relevance", "price_asc", "price_desc", "rating", "newest"]
MAX_RESULT_WINDOW = 10_000


class SearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str = Field(default="", max_length=200)
    category: str | None = Field(default=None, max_length=32)
    brand: tuple[str, ...] = Field(default=(), max_length=50)
    price_min: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    price_max: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    rating_min: float | None = Field(default=None, ge=0, le=5)
    in_stock: bool = False
    sort: Sort = "relevance"
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=20, ge=1, le=100)
    facet_size: int = Field(default=20, ge=1, le=200)


class SearchItem(BaseModel):
    id: str
    title: str
    brand: str
    category: CategoryRef
    price_from: MoneyModel | None
    rating: float
    rating_count: int
    in_stock: bool
    image: ImageUrls | None = None


class ValueCount(BaseModel):
    value: str
    count: int


class CategoryCount(ValueCount):
    """`value` is the category id; slug and name come along so clients need no second request."""

    slug: str
    name: str


class PriceBucket(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: MoneyModel = Field(alias="from", serialization_alias="from")
    to: MoneyModel | None  # None: no upper bound
    count: int


class RatingBucket(BaseModel):
    min: int
    count: int


class Facets(BaseModel):
    category: list[CategoryCount]
    brand: list[ValueCount]
    price: list[PriceBucket]
    rating: list[RatingBucket]


class SearchResult(BaseModel):
    items: list[SearchItem]
    total: int
    page: int
    per_page: int
    facets: Facets
    did_you_mean: str | None = None
    typo_tolerant: bool = False  # true when exact words matched little and near spellings were used
