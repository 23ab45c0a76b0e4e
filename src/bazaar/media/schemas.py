"""Media schemas: an image as the API answers it (the catalog's shape), and a position change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bazaar.catalog.schemas import ImageUrls, ProductImageRead

MAX_IMAGES_PER_PRODUCT = 12
MEDIA_PATH = "/media/"

__all__ = ["MAX_IMAGES_PER_PRODUCT", "MEDIA_PATH", "ImageMove", "ImageUrls", "ProductImageRead", "media_url"]


def media_url(key: str) -> str:
    return f"{MEDIA_PATH}{key}"


class ImageMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=0, lt=MAX_IMAGES_PER_PRODUCT)
