"""Disputes (chargebacks), the sellers they concern, and the payment webhook events already handled.

Revision ID: 0008c
Revises: 0004b
Create Date: 2026-12-05 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008c"
down_revision = "0004b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("provider_dispute_id", sa.String(length=80), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("evidence_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'under_review', 'won', 'lost')", name=op.f("ck_disputes_status_known")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_disputes_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("provider_dispute_id", name=op.f("uq_disputes_provider_dispute_id")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_disputes_status_opened", ["status", "opened_at"], unique=False)
    op.create_table(
        "dispute_sellers",
        sa.Column("dispute_id", sa.String(length=32), nullable=False),
        sa.Column("seller_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_dispute_sellers_dispute_id_disputes")),
        sa.PrimaryKeyConstraint("dispute_id", "seller_id", name=op.f("pk_dispute_sellers")),
    )
    with op.batch_alter_table("dispute_sellers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispute_sellers_seller_id"), ["seller_id"], unique=False)
    op.create_table(
        "payment_webhook_events",
        sa.Column("event_id", sa.String(length=80), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_payment_webhook_events")),
    )


def downgrade() -> None:
    op.drop_table("payment_webhook_events")
    with op.batch_alter_table("dispute_sellers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispute_sellers_seller_id"))
    op.drop_table("dispute_sellers")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_disputes_status_opened")
        batch_op.drop_index(batch_op.f("ix_disputes_order_id"))
    op.drop_table("disputes")
