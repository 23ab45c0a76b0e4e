"""Wish list tables: a buyer's watch on a product (wished and/or "notify me") and recently viewed products."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column


class ProductWatch(Base):
    """One buyer watching one product: on the wish list (`wished`: restock and price-drop alerts) and/or
    asked to be told once when it is back in stock (`notify_once`). The alert state lives here so that an
    alert fires once per change: `armed` is set while the product is seen out of stock and cleared when
    the buyer is told it is back; `reference_price_amount` is the lowest price the buyer has been shown."""

    __tablename__ = "product_watches"
    __table_args__ = (
        Index("ix_product_watches_product", "product_id"),
        Index("ix_product_watches_user_created", "user_id", "created_at"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    wished: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    notify_once: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    armed: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    reference_price_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    last_stock_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_price_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = created_column()


class RecentlyViewed(Base):
    __tablename__ = "recently_viewed"
    __table_args__ = (Index("ix_recently_viewed_user_viewed", "user_id", "viewed_at"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
