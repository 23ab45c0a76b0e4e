"""Review schemas: what a buyer writes and what everyone reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from bazaar.kernel.schemas import WHOLE, WholeNumber

ReviewSort = Literal["newest", "rating_high", "rating_low"]
TITLE_MAX = 200
BODY_MAX = 5000


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rating: WholeNumber = Field(ge=1, le=5)
    title: str = Field(default="", max_length=TITLE_MAX)
    body: str = Field(default="", max_length=BODY_MAX)


class ReviewUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rating: Annotated[int, Field(ge=1, le=5), WHOLE] | None = None
    title: str | None = Field(default=None, max_length=TITLE_MAX)
    body: str | None = Field(default=None, max_length=BODY_MAX)


class ReviewRead(BaseModel):
    id: str
    product_id: str
    author: str = Field(description="the author's display name")
    rating: int
    title: str
    body: str
    verified: bool = Field(description="written by a buyer who received the product")
    status: Literal["published", "hidden"]
    created_at: datetime
    updated_at: datetime


class ReviewPage(BaseModel):
    items: list[ReviewRead]
    total: int
    page: int
    per_page: int
    sort: ReviewSort
