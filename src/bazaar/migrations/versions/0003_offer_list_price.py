"""Offers get an optional list price (the "was" price) so the shop can show what is discounted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("list_price_amount", sa.Integer(), nullable=True))
        batch_op.create_check_constraint("list_price_nonnegative", "list_price_amount IS NULL OR list_price_amount >= 0")
    # The home page's deals: the newest discounted offers, without scanning every offer.
    op.create_index(
        "ix_offers_discounted_created",
        "offers",
        ["created_at"],
        postgresql_where=sa.text("list_price_amount IS NOT NULL"),
        sqlite_where=sa.text("list_price_amount IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_offers_discounted_created", table_name="offers")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_constraint("list_price_nonnegative", type_="check")
        batch_op.drop_column("list_price_amount")
