"""Money columns become 64-bit on PostgreSQL: a price of $21,474,836.48 or more overflowed a 32-bit column
(a 500), and totals of a few large prices did too. SQLite's INTEGER is already 64-bit.

Revision ID: 0004b
Revises: 0008b
Create Date: 2026-12-05 00:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004b"
down_revision = "0008b"
branch_labels = None
depends_on = None

# Frozen here on purpose: the money columns as they were when this was written.
MONEY_COLUMNS = {
    "offers": ("price_amount", "shipping_amount", "list_price_amount"),
    "cart_items": ("price_at_add_amount",),
    "checkouts": ("subtotal_amount", "shipping_amount", "tax_amount", "total_amount"),
    "orders": ("subtotal_amount", "shipping_amount", "tax_amount", "total_amount"),
    "order_lines": ("unit_price_amount", "shipping_amount", "tax_amount"),
    "returns": ("refund_amount",),
    "payments": ("amount", "authorized_amount", "captured_amount", "refunded_amount"),
    "payment_events": ("amount",),
    "seller_stats": ("revenue_amount",),
    "goodwill_refunds": ("amount",),
    "product_watches": ("reference_price_amount",),
    "flash_sales": ("price_amount",),
    "flash_sale_holds": ("price_amount",),
    "ledger_entries": ("amount",),
    "seller_accounts": ("balance",),
    "payouts": ("amount",),
    "payout_runs": ("amount",),
}


def _alter(to: type[sa.types.TypeEngine[int]], source: type[sa.types.TypeEngine[int]]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in MONEY_COLUMNS.items():
        for column in columns:
            op.alter_column(table, column, type_=to(), existing_type=source())


def upgrade() -> None:
    _alter(sa.BigInteger, sa.Integer)


def downgrade() -> None:
    _alter(sa.Integer, sa.BigInteger)
