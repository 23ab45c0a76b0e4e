"""Flash-sale tables: the sale, what each buyer took of it, the holds made through it, and queue tickets.

`units_taken` (held or sold through the sale) and each buyer's `units` only move by conditional
UPDATEs whose WHERE re-checks the cap, and CHECKs repeat the caps, so no interleaving of requests
can sell more than `units` or give a buyer more than `per_buyer_limit`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column


class FlashSale(Base):
    __tablename__ = "flash_sales"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("units_taken >= 0 AND units_taken <= units", name="units_taken_within_units"),
        CheckConstraint("units_sold >= 0 AND units_sold <= units_taken", name="units_sold_within_taken"),
        CheckConstraint("per_buyer_limit >= 1", name="per_buyer_limit_positive"),
        CheckConstraint("price_amount >= 0", name="price_nonnegative"),
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
        CheckConstraint("status IN ('scheduled', 'live', 'ended', 'cancelled')", name="status_known"),
        Index("ix_flash_sales_status_starts", "status", "starts_at"),
        Index("ix_flash_sales_offer_ends", "offer_id", "ends_at"),
        Index("ix_flash_sales_seller_created", "seller_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), nullable=False)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True, nullable=False)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), nullable=False)
    price_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    units: Mapped[int] = mapped_column(Integer, nullable=False)
    units_taken: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # held now or sold
    units_sold: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    per_buyer_limit: Mapped[int] = mapped_column(Integer, nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # The lifecycle as the scheduler recorded it (events sent); readers derive the status from the clock.
    status: Mapped[str] = mapped_column(String(16), default="scheduled", nullable=False)
    queue_seq: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # arrival counter (database queue)
    admitted_total: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class FlashSaleBuyer(Base):
    """Units one buyer holds or bought through one sale; never above the sale's per-buyer limit."""

    __tablename__ = "flash_sale_buyers"
    __table_args__ = (CheckConstraint("units >= 0", name="units_nonnegative"),)

    sale_id: Mapped[str] = mapped_column(ForeignKey("flash_sales.id"), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class FlashSaleHold(Base):
    """A stock reservation made through a sale, at the sale's price; `checkout_id` once a checkout adopted it."""

    __tablename__ = "flash_sale_holds"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("status IN ('held', 'sold', 'returned')", name="status_known"),
        Index("ix_flash_sale_holds_buyer_offer", "buyer_id", "offer_id", "status"),
        Index("ix_flash_sale_holds_sale_created", "sale_id", "created_at"),
    )

    reservation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sale_id: Mapped[str] = mapped_column(ForeignKey("flash_sales.id"), nullable=False)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    offer_id: Mapped[str] = mapped_column(String(32), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    price_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="held", nullable=False)
    checkout_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ticket_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class QueueTicket(Base):
    """A buyer's place in a sale's waiting room (the database queue of the embedded setup; Redis keeps its own)."""

    __tablename__ = "flash_sale_tickets"
    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'admitted', 'expired', 'left')", name="status_known"),
        Index("ix_flash_sale_tickets_sale_status_seq", "sale_id", "status", "seq"),
        Index("uq_flash_sale_tickets_sale_buyer", "sale_id", "buyer_id", unique=True),
    )

    id: Mapped[str] = id_column()
    sale_id: Mapped[str] = mapped_column(ForeignKey("flash_sales.id"), nullable=False)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="waiting", nullable=False)
    joined_at: Mapped[datetime] = created_column()
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    admitted_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # first hold with its token
