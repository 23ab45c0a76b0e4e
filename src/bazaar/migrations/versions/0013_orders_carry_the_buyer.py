"""Every table of an order carries its buyer (the partition key of docs/SCALING.md); the directory of whose an
order, shipment or return id is; the sellers' index of their orders (which replaces reading every buyer's lines
by seller, and so the index on order_lines (seller_id, order_id)).

Revision ID: 0013
Revises: 0009b
Create Date: 2026-12-06 06:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0009b"
branch_labels = None
depends_on = None

# (table, how a row finds its order's buyer)
CARRIERS = (
    ("order_lines", "SELECT o.user_id FROM orders o WHERE o.id = order_lines.order_id"),
    ("order_status_history", "SELECT o.user_id FROM orders o WHERE o.id = order_status_history.order_id"),
    ("shipments", "SELECT o.user_id FROM orders o WHERE o.id = shipments.order_id"),
    ("shipment_lines", "SELECT s.user_id FROM shipments s WHERE s.id = shipment_lines.shipment_id"),
    ("tracking_events", "SELECT s.user_id FROM shipments s WHERE s.id = tracking_events.shipment_id"),
    ("return_lines", "SELECT r.user_id FROM returns r WHERE r.id = return_lines.return_id"),
)


def upgrade() -> None:
    for table, buyer in CARRIERS:  # in this order: shipment lines and events find the buyer on their shipment
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("user_id", sa.String(length=32), nullable=True))
        op.execute(f"UPDATE {table} SET user_id = ({buyer})")  # noqa: S608 (constant text)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=False)
    op.create_table(
        "order_directory",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_directory")),
    )
    op.execute("INSERT INTO order_directory (id, user_id, order_id) SELECT id, user_id, id FROM orders")
    op.execute("INSERT INTO order_directory (id, user_id, order_id) SELECT id, user_id, order_id FROM shipments")
    op.execute("INSERT INTO order_directory (id, user_id, order_id) SELECT id, user_id, order_id FROM returns")
    op.create_table(
        "seller_orders",
        sa.Column("seller_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seller_id", "order_id", name=op.f("pk_seller_orders")),
    )
    with op.batch_alter_table("seller_orders", schema=None) as batch_op:
        batch_op.create_index("ix_seller_orders_seller_created", ["seller_id", "created_at", "order_id"], unique=False)
    op.execute(
        "INSERT INTO seller_orders (seller_id, order_id, user_id, created_at)"
        " SELECT DISTINCT l.seller_id, o.id, o.user_id, o.created_at FROM order_lines l JOIN orders o ON o.id = l.order_id"
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_seller_order")


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index("ix_order_lines_seller_order", ["seller_id", "order_id"], unique=False)
    with op.batch_alter_table("seller_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_seller_orders_seller_created")
    op.drop_table("seller_orders")
    op.drop_table("order_directory")
    for table, _ in reversed(CARRIERS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("user_id")
