"""Marketplace operations: sellers' standing, product takedowns, the operators' audit trail and goodwill refunds.

Revision ID: 0008
Revises: 0012
Create Date: 2026-12-05 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sellers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), server_default="active", nullable=False))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), server_default="active", nullable=False))

    op.create_table(
        "admin_actions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("admin_user_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["admin_user_id"], ["users.id"], name=op.f("fk_admin_actions_admin_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_actions")),
    )
    with op.batch_alter_table("admin_actions", schema=None) as batch_op:
        batch_op.create_index("ix_admin_actions_created", ["created_at"], unique=False)
        batch_op.create_index("ix_admin_actions_target", ["target_kind", "target_id", "created_at"], unique=False)

    op.create_table(
        "goodwill_refunds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("admin_user_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_goodwill_refunds_amount_positive")),
        sa.CheckConstraint(
            "status IN ('pending', 'refunded', 'failed')", name=op.f("ck_goodwill_refunds_status_known")
        ),
        sa.ForeignKeyConstraint(["admin_user_id"], ["users.id"], name=op.f("fk_goodwill_refunds_admin_user_id_users")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_goodwill_refunds_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goodwill_refunds")),
    )
    with op.batch_alter_table("goodwill_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_goodwill_refunds_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("goodwill_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_goodwill_refunds_order_id"))
    op.drop_table("goodwill_refunds")
    with op.batch_alter_table("admin_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_admin_actions_target")
        batch_op.drop_index("ix_admin_actions_created")
    op.drop_table("admin_actions")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("status")
    with op.batch_alter_table("sellers", schema=None) as batch_op:
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status")
