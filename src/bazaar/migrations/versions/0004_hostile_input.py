"""Hold limits: each buyer's held units in one row (`buyer_holds`), counted from the holds held now.

Revision ID: 0004
Revises: 0005b
Create Date: 2026-12-05 00:40:00.000000
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0005b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "buyer_holds",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("offers", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("units >= 0", name=op.f("ck_buyer_holds_units_nonnegative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_buyer_holds_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_buyer_holds")),
    )
    held = op.get_bind().execute(
        sa.text(
            "SELECT user_id, offer_id, sum(quantity) FROM reservations"
            " WHERE status = 'held' AND user_id IS NOT NULL GROUP BY user_id, offer_id"
        )
    )
    offers: dict[str, dict[str, int]] = defaultdict(dict)
    for user_id, offer_id, units in held:
        offers[user_id][offer_id] = int(units)
    now = datetime.now(UTC)
    rows = [{"user_id": u, "units": sum(o.values()), "offers": o, "updated_at": now} for u, o in offers.items()]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("buyer_holds")
