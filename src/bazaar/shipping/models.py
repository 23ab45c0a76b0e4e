"""Shipping tables: one shipment per seller and order (partial ones allowed), its lines and tracking events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column, id_column, updated_column


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('label_created', 'in_transit', 'out_for_delivery', 'delivered')", name="status_known"
        ),
    )

    __mapper_args__ = {"primary_key": ["id", "user_id"]}

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)  # the order's buyer: see orders.models
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), index=True, nullable=False)
    carrier: Mapped[str] = mapped_column(String(60), nullable=False)
    tracking_number: Mapped[str] = mapped_column(String(80), nullable=False)
    status: Mapped[str] = mapped_column(String(24), default="label_created", nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipments.id"), primary_key=True)
    order_line_id: Mapped[str] = mapped_column(ForeignKey("order_lines.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)


class TrackingEvent(Base):
    __tablename__ = "tracking_events"

    id: Mapped[str] = id_column()
    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipments.id"), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = created_column()
