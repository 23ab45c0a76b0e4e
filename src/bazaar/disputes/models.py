"""Disputes tables: chargebacks as the provider reports them, which sellers they concern, and the webhook
events already handled (so a replayed event changes nothing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column

STATUS_RANK = {"open": 0, "under_review": 1, "won": 2, "lost": 2}  # a dispute never goes back


class Dispute(Base):
    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'under_review', 'won', 'lost')", name="status_known"),
        Index("ix_disputes_status_opened", "status", "opened_at"),
    )

    id: Mapped[str] = id_column()
    provider_dispute_id: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    payment_id: Mapped[str] = mapped_column(String(32), nullable=False)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fee: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    reason: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="open", nullable=False)
    evidence: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    opened_at: Mapped[datetime] = created_column()
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = updated_column()


class DisputeSeller(Base):
    __tablename__ = "dispute_sellers"

    dispute_id: Mapped[str] = mapped_column(ForeignKey("disputes.id"), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class PaymentWebhookEvent(Base):
    """Each provider event id handled once: a replay is answered 200 and changes nothing."""

    __tablename__ = "payment_webhook_events"

    event_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    type: Mapped[str] = mapped_column(String(60), nullable=False)
    received_at: Mapped[datetime] = created_column()
