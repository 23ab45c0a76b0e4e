"""Sellers' ledger: entries, seller accounts, payouts, payout runs and commission rates.

Revision ID: 0008b
Revises: 0004
Create Date: 2026-12-05 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008b"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("seller_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("refund_ref", sa.String(length=160), nullable=True),
        sa.Column("dispute_id", sa.String(length=32), nullable=True),
        sa.Column("payout_id", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("account IN ('seller', 'commission', 'tax')", name=op.f("ck_ledger_entries_account_known")),
        sa.CheckConstraint(
            "kind IN ('sale', 'commission', 'refund', 'dispute', 'dispute_fee', 'payout', 'adjustment', 'tax')",
            name=op.f("ck_ledger_entries_kind_known"),
        ),
        sa.CheckConstraint(
            "account <> 'seller' OR seller_id IS NOT NULL", name=op.f("ck_ledger_entries_seller_entry_has_seller")
        ),
        sa.CheckConstraint("order_id IS NOT NULL OR payout_id IS NOT NULL", name=op.f("ck_ledger_entries_traceable")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("source", name=op.f("uq_ledger_entries_source")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_order", ["order_id"], unique=False)
        batch_op.create_index("ix_ledger_entries_seller", ["seller_id", "account", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_payout_id"), ["payout_id"], unique=False)

    op.create_table(
        "seller_accounts",
        sa.Column("seller_id", sa.String(length=32), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payout_destination", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seller_id", name=op.f("pk_seller_accounts")),
    )
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("seller_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_reference", sa.String(length=80), nullable=True),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payouts_amount_positive")),
        sa.CheckConstraint("status IN ('pending', 'paid', 'failed')", name=op.f("ck_payouts_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
    )
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.create_index("ix_payouts_seller_created", ["seller_id", "created_at"], unique=False)
        batch_op.create_index("ix_payouts_status", ["status"], unique=False)

    op.create_table(
        "payout_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_runs")),
    )
    op.create_table(
        "commission_rates",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("bps", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("bps >= 0 AND bps <= 10000", name=op.f("ck_commission_rates_bps_range")),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_commission_rates")),
    )


def downgrade() -> None:
    op.drop_table("commission_rates")
    op.drop_table("payout_runs")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_index("ix_payouts_status")
        batch_op.drop_index("ix_payouts_seller_created")
    op.drop_table("payouts")
    op.drop_table("seller_accounts")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_payout_id"))
        batch_op.drop_index("ix_ledger_entries_seller")
        batch_op.drop_index("ix_ledger_entries_order")
    op.drop_table("ledger_entries")
