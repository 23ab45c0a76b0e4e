"""Ledger tables: immutable entries (sellers' money, the marketplace's commission and the tax it holds),
each seller's account (a cached balance checked against the entries, its payout destination), payouts,
payout runs and commission rates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column

ENTRY_KINDS = ("sale", "commission", "refund", "dispute", "dispute_fee", "payout", "adjustment", "tax")


class LedgerEntry(Base):
    """One signed amount on one account. Never updated except `available_at`, which is set once when the order's
    funds are released; a correction is a new entry. `source` names the business fact that made it, so replaying
    that fact never writes it twice."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("account IN ('seller', 'commission', 'tax')", name="account_known"),
        CheckConstraint(
            "kind IN ('sale', 'commission', 'refund', 'dispute', 'dispute_fee', 'payout', 'adjustment', 'tax')",
            name="kind_known",
        ),
        CheckConstraint("account <> 'seller' OR seller_id IS NOT NULL", name="seller_entry_has_seller"),
        # Every entry traces to an order (sales, commission, tax, refunds, disputes) or a payout.
        CheckConstraint("order_id IS NOT NULL OR payout_id IS NOT NULL", name="traceable"),
        Index("ix_ledger_entries_seller", "seller_id", "account", "created_at"),
        Index("ix_ledger_entries_order", "order_id"),
    )

    id: Mapped[str] = id_column()
    account: Mapped[str] = mapped_column(String(16), nullable=False)
    seller_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # signed minor units: credit > 0, debit < 0
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    refund_ref: Mapped[str | None] = mapped_column(String(160), nullable=True)  # the provider refund's key
    dispute_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    payout_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    source: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    created_at: Mapped[datetime] = created_column()
    # NULL: pending until the order is delivered (then delivery + hold days); debits after release are at once.
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


DEFAULT_DESTINATION = "000123456789"  # a sandbox bank account, until the seller sets theirs


class SellerAccount(Base):
    """Per seller: the balance (always the sum of its entries; a cache, checked by the tests), where payouts go,
    and the row a payout locks so two payout runs cannot pay the same money twice."""

    __tablename__ = "seller_accounts"

    seller_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    payout_destination: Mapped[str] = mapped_column(String(64), default=DEFAULT_DESTINATION, nullable=False)
    updated_at: Mapped[datetime] = updated_column()


class Payout(Base):
    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'paid', 'failed')", name="status_known"),
        Index("ix_payouts_seller_created", "seller_id", "created_at"),
        Index("ix_payouts_status", "status"),
    )

    id: Mapped[str] = id_column()
    seller_id: Mapped[str] = mapped_column(String(32), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    destination: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    provider_reference: Mapped[str | None] = mapped_column(String(80), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class PayoutRun(Base):
    __tablename__ = "payout_runs"

    id: Mapped[str] = id_column()
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # cli | worker | admin
    started_at: Mapped[datetime] = created_column()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    failed: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class CommissionRate(Base):
    """The marketplace's cut in basis points: scope `default`, or a category id (its subcategories inherit)."""

    __tablename__ = "commission_rates"
    __table_args__ = (CheckConstraint("bps >= 0 AND bps <= 10000", name="bps_range"),)

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    bps: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = updated_column()
