"""Order tables: orders, their lines (each with its seller), status history and returns; the directory that
names the buyer of any order, shipment or return id, and the sellers' index of their orders.

Every table of an order (these, and shipping's shipments, their lines and tracking events) carries its buyer,
`user_id`: the partition key that every query of them carries (docs/SCALING.md, "Orders partitioned by buyer").
The ORM's identity of a row is (id, user_id), so the updates the ORM writes carry it too. What is looked up by
id alone (a seller's or an operator's order, a carrier's shipment, a seller's return) first asks the directory
for the buyer; what reads across buyers (a seller's orders) reads the sellers' index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled', 'returned')",
            name="status_known",
        ),
        Index("ix_orders_user_created", "user_id", "created_at"),
    )
    __mapper_args__ = {"primary_key": ["id", "user_id"]}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    checkout_id: Mapped[str] = mapped_column(ForeignKey("checkouts.id"), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    subtotal_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    shipping_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Sellers' vouchers taken off the items: [{code, seller_id, amount}]; total = subtotal - discount + shipping + tax.
    discount_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    discounts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    shipping_method: Mapped[str | None] = mapped_column(String(60), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("shipped_quantity >= 0 AND shipped_quantity <= quantity", name="shipped_within"),
        CheckConstraint("returned_quantity >= 0 AND returned_quantity <= quantity", name="returned_within"),
    )
    __mapper_args__ = {"primary_key": ["id", "user_id"]}

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)  # the order's buyer
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), nullable=False)
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"), nullable=False)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), nullable=False)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), nullable=False)
    reservation_id: Mapped[str | None] = mapped_column(ForeignKey("reservations.id"), nullable=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    shipping_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    tax_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    # This line's share of its seller's voucher: a returned unit refunds its price less its share.
    discount_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class OrderStatusHistory(Base):
    __tablename__ = "order_status_history"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)  # the order's buyer
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = created_column()


class Return(Base):
    __tablename__ = "returns"
    __table_args__ = (
        CheckConstraint("status IN ('requested', 'received', 'refunded', 'rejected')", name="status_known"),
    )
    __mapper_args__ = {"primary_key": ["id", "user_id"]}

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="requested", nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD", nullable=False)
    refund_amount: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    created_at: Mapped[datetime] = created_column()
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = updated_column()


class ReturnLine(Base):
    __tablename__ = "return_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    return_id: Mapped[str] = mapped_column(ForeignKey("returns.id"), primary_key=True)
    order_line_id: Mapped[str] = mapped_column(ForeignKey("order_lines.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)  # the order's buyer
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)


class OrderDirectory(Base):
    """Whose is this id: the buyer of every order, shipment and return (ids are unique across all three), for
    the paths that are given an id alone. Written in the transaction that creates the row it names."""

    __tablename__ = "order_directory"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    order_id: Mapped[str] = mapped_column(String(32), nullable=False)


class SellerOrder(Base):
    """The sellers' index of their orders: one row per seller of an order, newest first by seller. A seller's
    list reads a page of it, then each order by (id, buyer), instead of every buyer's lines."""

    __tablename__ = "seller_orders"
    __table_args__ = (Index("ix_seller_orders_seller_created", "seller_id", "created_at", "order_id"),)

    seller_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
