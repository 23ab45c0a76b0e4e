"""Mail tables: the outbox of emails (one row per email, sent once) and buyers' email preferences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column


class MailMessage(Base):
    """An email to send. `dedupe_key` (event, kind, recipient) makes a redelivered event add nothing; a
    sender claims due rows (`claim`, `locked_until`), and only the claim it holds may settle the row."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
        Index("ix_mail_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = id_column()
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    to_address: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    text_body: Mapped[str] = mapped_column(Text, nullable=False)
    html_body: Mapped[str] = mapped_column(Text, nullable=False)
    unsubscribe_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = created_column()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MailPreference(Base):
    """A kind of email turned on or off for an address (no row: on). Keyed by address, so a guest's
    unsubscribe link works too and an account registered later with that address keeps the choice."""

    __tablename__ = "mail_preferences"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[datetime] = updated_column()
