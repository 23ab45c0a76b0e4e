"""Outbox, inbox and idempotency tables: the plumbing that makes events and retries exactly-once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column


class OutboxEvent(Base):
    """An event written in the same transaction as the change it describes."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "published_at", "id"),
        Index("ix_outbox_unsettled", "settled_at", "id"),
    )

    # BigInteger on PostgreSQL, INTEGER (the rowid alias) on SQLite, so ids always grow.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    topic: Mapped[str] = mapped_column(String(120), nullable=False)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = created_column()
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set once every subscription has handled the event (or given up on it): until then the broker's copy
    # may be lost (Redis without persistence) and the relay publishes the event again.
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class InboxEntry(Base):
    """One row per (consumer, event) handled; committed with the consumer's side effect."""

    __tablename__ = "inbox"

    consumer: Mapped[str] = mapped_column(String(80), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    handled_at: Mapped[datetime] = created_column()


class EventFailure(Base):
    """A consumer's failed attempts at one event (embedded stream): retried after `retry_at`,
    dead-lettered (`dead_at` set) once the attempts reach the limit. Deleted when a retry succeeds."""

    __tablename__ = "event_failures"

    consumer: Mapped[str] = mapped_column(String(80), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    topic: Mapped[str] = mapped_column(String(120), nullable=False)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    retry_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    created_at: Mapped[datetime] = created_column()


class IdempotencyRecord(Base):
    """The stored answer to a request made with an Idempotency-Key, per user and endpoint."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    scope: Mapped[str] = mapped_column(String(60), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = created_column()
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
