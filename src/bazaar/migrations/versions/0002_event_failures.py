"""Event failures: per-consumer retry state and dead letters of the embedded event stream.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_failures",
        sa.Column("consumer", sa.String(length=80), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_event_failures")),
    )
    with op.batch_alter_table("event_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_failures_dead_at"), ["dead_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_failures_dead_at"))
    op.drop_table("event_failures")
