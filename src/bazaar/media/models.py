"""Media tables: a product's images, in display order, each with its three content-addressed variants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, created_column, id_column


class ProductImage(Base):
    __tablename__ = "product_images"
    __table_args__ = (Index("ix_product_images_product_position", "product_id", "position"),)

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), nullable=False)
    seller_id: Mapped[str | None] = mapped_column(ForeignKey("sellers.id"), nullable=True)  # None: demo picture
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    thumb_key: Mapped[str] = mapped_column(String(80), index=True, nullable=False)
    medium_key: Mapped[str] = mapped_column(String(80), index=True, nullable=False)
    large_key: Mapped[str] = mapped_column(String(80), index=True, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)  # of the large variant
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = created_column()
