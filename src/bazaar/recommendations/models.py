"""Recommendation tables: how often two products were ordered together, kept by a consumer of order events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime


class CoPurchase(Base):
    __tablename__ = "co_purchases"
    __table_args__ = (Index("ix_co_purchases_product_orders", "product_id", "orders"),)

    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    other_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # orders holding both
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_order_id: Mapped[str] = mapped_column(String(32), nullable=False)
