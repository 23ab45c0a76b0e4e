"""Products carry only tax categories the tax module knows: the seeded Grocery department was filed
under `food` (unknown to the tax table, so those products could not be bought); refile it as
`grocery`, anything else unknown as `general`, and let the database refuse unknown ones from now on.

Revision ID: 0005
Revises: 0010
Create Date: 2026-12-05 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0010"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must keep meaning what it meant when it was written.
KNOWN = ("general", "clothing", "grocery", "books", "digital")
CHECK = f"tax_category IN ({', '.join(repr(c) for c in KNOWN)})"


def upgrade() -> None:
    products = sa.table("products", sa.column("tax_category", sa.String))
    op.execute(products.update().where(products.c.tax_category == "food").values(tax_category="grocery"))
    op.execute(products.update().where(products.c.tax_category.not_in(KNOWN)).values(tax_category="general"))
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_products_known_tax_category"), CHECK)


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_products_known_tax_category"), type_="check")
