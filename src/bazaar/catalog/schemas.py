"""Catalog schemas: what the API reads and answers for categories, products, SKUs and offers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bazaar.kernel.money import MAX_AMOUNT, Money
from bazaar.kernel.schemas import WHOLE, WholeNumber
from bazaar.kernel.text import BoundedJson
from bazaar.tax.categories import DEFAULT_TAX_CATEGORY, TaxCategory

CURRENCY: Literal["USD"] = "USD"
Condition = Literal["new", "used", "refurbished"]
Availability = Literal["in_stock", "low_stock", "out_of_stock"]


class MoneyModel(BaseModel):
    """Money on the wire: integer minor units and a currency; the marketplace trades in USD."""

    model_config = ConfigDict(extra="forbid")

    amount: WholeNumber = Field(ge=0, le=MAX_AMOUNT)
    currency: Literal["USD"] = CURRENCY

    @classmethod
    def of(cls, amount: int, currency: str = CURRENCY) -> MoneyModel:
        """An answer's money (a sum such as price + shipping may pass the input bound): not validated again."""
        return cls.model_construct(amount=amount, currency=currency)  # type: ignore[arg-type]

    def to_money(self) -> Money:
        return Money(self.amount, self.currency)


def _stripped(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{field} must not be blank")
    return value


class CategoryNode(BaseModel):
    id: str
    slug: str
    name: str
    children: list[CategoryNode] = Field(default_factory=list)


class CategoryRef(BaseModel):
    id: str
    slug: str
    name: str


class SkuCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: BoundedJson = Field(default_factory=dict)
    gtin: str | None = Field(default=None, pattern=r"^[0-9]{8,14}$")


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    brand: str = Field(min_length=1, max_length=120)
    category_id: str = Field(min_length=1, max_length=32)
    attributes: BoundedJson = Field(default_factory=dict)
    tax_category: TaxCategory = DEFAULT_TAX_CATEGORY
    skus: list[SkuCreate] = Field(min_length=1, max_length=100)

    @field_validator("title", "brand")
    @classmethod
    def _not_blank(cls, value: str, info: Any) -> str:
        return _stripped(value, info.field_name)


class SkuRead(BaseModel):
    id: str
    product_id: str
    attributes: dict[str, Any]
    gtin: str | None


class SellerRef(BaseModel):
    id: str
    display_name: str
    rating: float


class SaleIn(BaseModel):
    """A scheduled sale price: the offer's price is `price` from `starts_at` until `ends_at`."""

    model_config = ConfigDict(extra="forbid")

    price: MoneyModel
    starts_at: datetime
    ends_at: datetime


class SaleRead(BaseModel):
    price: MoneyModel
    starts_at: datetime
    ends_at: datetime
    live: bool = Field(description="the sale price is the offer's price now")
    regular_price: MoneyModel | None = Field(default=None, description="while live: the price it returns to")


class OfferRead(BaseModel):
    id: str
    sku_id: str
    product_id: str
    seller: SellerRef
    price: MoneyModel
    shipping_price: MoneyModel
    total_price: MoneyModel
    condition: Condition
    availability: Availability
    available_quantity: int
    list_price: MoneyModel | None = Field(default=None, description='the "was" price, shown when above the price')
    sale: SaleRead | None = Field(default=None, description="a scheduled or live sale price")


class SellerOfferRead(OfferRead):
    """A seller's own listing: also the on-hand quantity (available = on hand minus held)."""

    quantity: int
    created_at: datetime
    updated_at: datetime


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku_id: str = Field(min_length=1, max_length=32)
    price: MoneyModel
    shipping_price: MoneyModel = Field(default_factory=lambda: MoneyModel.of(0))
    list_price: MoneyModel | None = None
    condition: Condition = "new"
    quantity: WholeNumber = Field(ge=0, le=1_000_000)
    sale: SaleIn | None = None


class OfferUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: MoneyModel | None = None
    shipping_price: MoneyModel | None = None
    list_price: MoneyModel | None = Field(default=None, description="amount 0 removes the was-price")
    quantity: Annotated[int, Field(ge=0, le=1_000_000), WHOLE] | None = None
    sale: SaleIn | None = Field(default=None, description="schedule a sale price; null cancels the sale")


class OfferPage(BaseModel):
    items: list[SellerOfferRead]
    total: int
    page: int
    per_page: int


class RatingSummary(BaseModel):
    average: float
    count: int
    histogram: dict[str, int] = Field(
        default_factory=lambda: {str(n): 0 for n in range(1, 6)}, description='{"1": n, ..., "5": n}'
    )


class ImageUrls(BaseModel):
    thumb: str
    medium: str
    large: str


class ProductImageRead(BaseModel):
    """One product image: content-addressed URLs, served with immutable caching."""

    id: str
    position: int
    urls: ImageUrls
    width: int = 0
    height: int = 0


class ProductPage(BaseModel):
    """The product page: the product, its SKUs, every seller's offer and the buy box."""

    id: str
    title: str
    description: str
    brand: str
    category: CategoryRef
    attributes: dict[str, Any]
    rating: RatingSummary
    images: list[ProductImageRead] = Field(default_factory=list)
    skus: list[SkuRead]
    offers: list[OfferRead]
    best_offer: OfferRead | None
    created_at: datetime


class ProductSummary(BaseModel):
    """A product in a list (wish list, recently viewed, alerts): its lowest in-stock price, shipping excluded."""

    id: str
    title: str
    brand: str
    in_stock: bool
    price_from: MoneyModel | None
    image: ImageUrls | None = None
