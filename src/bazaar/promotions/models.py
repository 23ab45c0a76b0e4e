"""Promotion tables: vouchers, their uses per buyer, the vouchers applied to carts and each redemption."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column


class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("kind IN ('percent', 'fixed')", name="kind_known"),
        CheckConstraint("value > 0", name="value_positive"),
        CheckConstraint("min_subtotal_amount >= 0", name="min_subtotal_nonnegative"),
        CheckConstraint("uses >= 0", name="uses_nonnegative"),
        # The database holds the limit too, as it does for stock: a use beyond it cannot be written.
        CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="uses_within_limit"),
        CheckConstraint("status IN ('active', 'disabled')", name="status_known"),
        Index("ix_vouchers_seller_created", "seller_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), nullable=False)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)  # upper case
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)  # percent (1..100) or minor units
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    min_subtotal_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_uses_per_buyer: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False)
    created_at: Mapped[datetime] = created_column()


class VoucherBuyerUse(Base):
    __tablename__ = "voucher_buyer_uses"
    __table_args__ = (CheckConstraint("uses >= 0", name="uses_nonnegative"),)

    voucher_id: Mapped[str] = mapped_column(ForeignKey("vouchers.id"), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class CartVoucher(Base):
    """A code a buyer applied to a cart: at most one per seller of the cart."""

    __tablename__ = "cart_vouchers"

    cart_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), primary_key=True)
    voucher_id: Mapped[str] = mapped_column(ForeignKey("vouchers.id"), nullable=False)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    added_at: Mapped[datetime] = created_column()


class VoucherRedemption(Base):
    """One use of a voucher by a checkout: held while the checkout runs, used by its order, or released."""

    __tablename__ = "voucher_redemptions"
    __table_args__ = (
        CheckConstraint("status IN ('held', 'used', 'released')", name="status_known"),
        CheckConstraint("amount >= 0", name="amount_nonnegative"),
        UniqueConstraint("voucher_id", "checkout_id", name="uq_voucher_redemptions_voucher_checkout"),
    )

    id: Mapped[str] = id_column()
    voucher_id: Mapped[str] = mapped_column(ForeignKey("vouchers.id"), index=True, nullable=False)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), nullable=False)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    checkout_id: Mapped[str] = mapped_column(String(32), index=True, nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="held", nullable=False)
    created_at: Mapped[datetime] = created_column()
