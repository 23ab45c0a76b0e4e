"""A due capture is taken by one worker at a time: the payment says until when (a worker that dies mid-round lets
go when the time passes), so the workers of several nodes spread the due captures instead of each sending all.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capture_claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("capture_claimed_until")
