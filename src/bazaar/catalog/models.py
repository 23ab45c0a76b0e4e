"""Catalog tables: the category tree, products, SKUs (variants) and offers (one seller's listing of a SKU)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, validates

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column
from bazaar.tax.categories import DEFAULT_TAX_CATEGORY, check_tax_category, tax_category_check_sql


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[str] = id_column()
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"), index=True, nullable=True)
    slug: Mapped[str] = mapped_column(String(160), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    # Materialised path of ids ("/root/child/"), so "this category and its descendants" is a prefix match.
    path: Mapped[str] = mapped_column(String(400), index=True, nullable=False)
    depth: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    position: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("rating_average >= 0 AND rating_average <= 5", name="rating_range"),
        CheckConstraint("weight_grams >= 0", name="weight_nonnegative"),
        CheckConstraint(tax_category_check_sql(), name="known_tax_category"),
    )

    id: Mapped[str] = id_column()
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    brand: Mapped[str] = mapped_column(String(120), index=True, nullable=False)
    category_id: Mapped[str] = mapped_column(ForeignKey("categories.id"), index=True, nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    rating_average: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    rating_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    tax_category: Mapped[str] = mapped_column(String(40), default=DEFAULT_TAX_CATEGORY, nullable=False)
    weight_grams: Mapped[int] = mapped_column(Integer, default=500, nullable=False)
    image_url: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the first image's medium variant
    # What pages and search show of the product's images ([{id, position, urls: {thumb, medium, large}}]),
    # kept by the media context through catalog.service.set_product_images.
    images: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # {"1": n, ..., "5": n}, kept with rating_average and rating_count by the reviews context.
    rating_histogram: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    created_by_seller_id: Mapped[str | None] = mapped_column(ForeignKey("sellers.id"), nullable=True)
    # `taken_down` by an operator: the page answers 404, search drops it, its offers cannot be bought.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active", nullable=False)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    @validates("tax_category")
    def _known_tax_category(self, _key: str, value: str) -> str:
        return check_tax_category(value)


class Sku(Base):
    __tablename__ = "skus"

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True, nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True, nullable=True)
    created_at: Mapped[datetime] = created_column()


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("price_amount >= 0", name="price_nonnegative"),
        CheckConstraint("shipping_amount >= 0", name="shipping_nonnegative"),
        CheckConstraint("condition IN ('new', 'used', 'refurbished')", name="condition_known"),
        CheckConstraint("bucket_count >= 1", name="bucket_count_positive"),
        CheckConstraint("list_price_amount IS NULL OR list_price_amount >= 0", name="list_price_nonnegative"),
        Index("ix_offers_seller_created", "seller_id", "created_at"),
        Index(
            "ix_offers_sale_due",
            "sale_state",
            postgresql_where=text("sale_state IN ('scheduled', 'live')"),
            sqlite_where=text("sale_state IN ('scheduled', 'live')"),
        ),
        Index(
            "ix_offers_discounted_created",
            "created_at",
            postgresql_where=text("list_price_amount IS NOT NULL"),
            sqlite_where=text("list_price_amount IS NOT NULL"),
        ),
    )

    id: Mapped[str] = id_column()
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"), index=True, nullable=False)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True, nullable=False)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), nullable=False)
    price_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    shipping_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    # The "was" price a seller shows struck through; only meaningful above the price.
    list_price_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A scheduled sale: at sale_starts_at the sale-prices worker moves price_amount to regular_price_amount and
    # puts the sale price in; at sale_ends_at it puts the regular price back (sale_state: scheduled, live, ended).
    sale_price_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sale_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sale_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sale_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    regular_price_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    condition: Mapped[str] = mapped_column(String(16), default="new", nullable=False)
    # Only `active` offers are shown and sold; `suspended` while the seller is, `taken_down` with the product.
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False)
    bucket_count: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()
