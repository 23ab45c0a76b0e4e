"""Review tables: one review per buyer and product, only by buyers who received it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, created_column, id_column, updated_column


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),
        CheckConstraint("status IN ('published', 'hidden')", name="status_known"),
        # One per buyer and product; seeded reviews have no author account (NULLs never collide).
        UniqueConstraint("product_id", "author_id", name="uq_reviews_product_author"),
        Index("ix_reviews_product_created", "product_id", "created_at"),
        Index("ix_reviews_product_rating", "product_id", "rating"),
    )

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), nullable=False)
    author_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True, nullable=True)
    author_name: Mapped[str] = mapped_column(String(120), nullable=False)
    rating: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    body: Mapped[str] = mapped_column(Text, default="", nullable=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="published", nullable=False)
    hidden_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()
