"""Outbox rows remember when every subscription had handled them (`settled_at`): until then the relay may
publish them again, because the broker's copy can be lost (Redis restarted without saving, flushed).

Rows already published count as settled (the transport before this change did not know better).

Revision ID: 0005b
Revises: 0009
Create Date: 2026-12-05 00:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005b"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
    outbox = sa.table("outbox", sa.column("published_at", sa.DateTime(timezone=True)), sa.column("settled_at", sa.DateTime(timezone=True)))
    op.execute(outbox.update().where(outbox.c.published_at.is_not(None)).values(settled_at=outbox.c.published_at))
    op.create_index("ix_outbox_unsettled", "outbox", ["settled_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_unsettled", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("settled_at")
