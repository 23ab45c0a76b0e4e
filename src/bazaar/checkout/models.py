"""Checkout tables: the saga record (one per user and idempotency key) and its step log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column

CHECKOUT_STATUSES = (
    "started",
    "cart_validated",
    "inventory_reserved",
    "priced",
    "payment_authorized",
    "order_created",
    "payment_captured",
    "completed",
    "compensating",
    "failed",
)


class Checkout(Base):
    __tablename__ = "checkouts"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_checkouts_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    cart_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="started", nullable=False)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    shipping_method: Mapped[str | None] = mapped_column(String(60), nullable=True)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    subtotal_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    shipping_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    tax_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    total_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    payment_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    failure_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class CheckoutStep(Base):
    __tablename__ = "checkout_steps"
    __table_args__ = (CheckConstraint("status <> ''", name="status_present"),)

    id: Mapped[str] = id_column()
    checkout_id: Mapped[str] = mapped_column(ForeignKey("checkouts.id"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    at: Mapped[datetime] = created_column()
