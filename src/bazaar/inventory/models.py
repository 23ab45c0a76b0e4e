"""Inventory tables: an offer's stock split into bucket rows, and reservations held against them.

Each bucket keeps `on_hand` (units in the warehouse, not yet sold) and `available`
(on_hand minus what reservations hold). The CHECKs make overselling impossible even
if application code were wrong.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column


class StockBucket(Base):
    __tablename__ = "stock_buckets"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_nonnegative"),
        CheckConstraint("available <= on_hand", name="available_within_on_hand"),
        CheckConstraint("bucket >= 0", name="bucket_nonnegative"),
    )

    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    available: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("status IN ('held', 'committed', 'released', 'expired')", name="status_known"),
        Index("ix_reservations_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = id_column()
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), index=True, nullable=False)
    bucket: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="held", nullable=False)
    checkout_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class BuyerHolds(Base):
    """What one buyer holds right now: units over all offers, and per offer ({offer_id: units}).

    Kept in step with the buyer's `held` reservations by the statements that make and end them (see
    inventory/limits.py); the one row per buyer is what a buyer's parallel holds queue on.
    """

    __tablename__ = "buyer_holds"
    __table_args__ = (CheckConstraint("units >= 0", name="units_nonnegative"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    offers: Mapped[dict[str, int]] = mapped_column(JSON, default=dict, nullable=False)
    updated_at: Mapped[datetime] = updated_column()
