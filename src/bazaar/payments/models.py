"""Payment tables: our record of each payment at the provider, and every call we made for it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'authorized', 'captured', 'voided', 'partially_refunded', 'refunded', 'failed')",
            name="status_known",
        ),
        CheckConstraint("captured_amount <= authorized_amount", name="capture_within_authorization"),
        CheckConstraint("refunded_amount <= captured_amount", name="refund_within_capture"),
        Index("ix_payments_status_capture_after", "status", "capture_after"),
    )

    id: Mapped[str] = id_column()
    checkout_id: Mapped[str] = mapped_column(ForeignKey("checkouts.id"), unique=True, nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    provider: Mapped[str] = mapped_column(String(40), default="sandbox", nullable=False)
    provider_payment_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(24), default="pending", nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    authorized_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    captured_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    card_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    capture_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A worker capturing the payment holds it until then; another worker takes it only after (payments/service.py).
    capture_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class PaymentEvent(Base):
    __tablename__ = "payment_events"
    __table_args__ = (
        CheckConstraint("kind IN ('authorize', 'capture', 'void', 'refund', 'lookup')", name="kind_known"),
        CheckConstraint("amount >= 0", name="amount_nonnegative"),
    )

    id: Mapped[str] = id_column()
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True, nullable=False)
    outcome: Mapped[str] = mapped_column(String(24), default="pending", nullable=False)
    provider_reference: Mapped[str | None] = mapped_column(String(80), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    created_at: Mapped[datetime] = created_column()


class PaymentRecord(Protocol):
    """A payment as read: the session's object, or the row a statement answered when it moved the payment
    (payments/calls.py); either way read-only for whoever receives it."""

    @property
    def id(self) -> str: ...
    @property
    def checkout_id(self) -> str: ...
    @property
    def order_id(self) -> str | None: ...
    @property
    def provider(self) -> str: ...
    @property
    def provider_payment_id(self) -> str | None: ...
    @property
    def idempotency_key(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def authorized_amount(self) -> int: ...
    @property
    def captured_amount(self) -> int: ...
    @property
    def refunded_amount(self) -> int: ...
    @property
    def card_last4(self) -> str | None: ...
    @property
    def capture_after(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class EventRecord(Protocol):
    """A provider call as read: the session's object, or the row the statement that closed it answered."""

    @property
    def id(self) -> str: ...
    @property
    def payment_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def idempotency_key(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def provider_reference(self) -> str | None: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
