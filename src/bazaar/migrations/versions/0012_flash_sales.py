"""Flash sales: scheduled sales on an offer, what each buyer took of one, holds made through one, queue tickets.

Revision ID: 0012
Revises: 0005
Create Date: 2026-12-05 00:14:42.841974
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('flash_sales',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('offer_id', sa.String(length=32), nullable=False),
    sa.Column('product_id', sa.String(length=32), nullable=False),
    sa.Column('seller_id', sa.String(length=32), nullable=False),
    sa.Column('price_amount', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('units_taken', sa.Integer(), nullable=False),
    sa.Column('units_sold', sa.Integer(), nullable=False),
    sa.Column('per_buyer_limit', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('queue_seq', sa.Integer(), nullable=False),
    sa.Column('admitted_total', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('scheduled', 'live', 'ended', 'cancelled')", name=op.f('ck_flash_sales_status_known')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_flash_sales_window_ordered')),
    sa.CheckConstraint('per_buyer_limit >= 1', name=op.f('ck_flash_sales_per_buyer_limit_positive')),
    sa.CheckConstraint('price_amount >= 0', name=op.f('ck_flash_sales_price_nonnegative')),
    sa.CheckConstraint('units > 0', name=op.f('ck_flash_sales_units_positive')),
    sa.CheckConstraint('units_sold >= 0 AND units_sold <= units_taken', name=op.f('ck_flash_sales_units_sold_within_taken')),
    sa.CheckConstraint('units_taken >= 0 AND units_taken <= units', name=op.f('ck_flash_sales_units_taken_within_units')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_flash_sales_offer_id_offers')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_flash_sales_product_id_products')),
    sa.ForeignKeyConstraint(['seller_id'], ['sellers.id'], name=op.f('fk_flash_sales_seller_id_sellers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flash_sales'))
    )
    with op.batch_alter_table('flash_sales', schema=None) as batch_op:
        batch_op.create_index('ix_flash_sales_offer_ends', ['offer_id', 'ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_flash_sales_product_id'), ['product_id'], unique=False)
        batch_op.create_index('ix_flash_sales_seller_created', ['seller_id', 'created_at'], unique=False)
        batch_op.create_index('ix_flash_sales_status_starts', ['status', 'starts_at'], unique=False)

    op.create_table('flash_sale_buyers',
    sa.Column('sale_id', sa.String(length=32), nullable=False),
    sa.Column('buyer_id', sa.String(length=32), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.CheckConstraint('units >= 0', name=op.f('ck_flash_sale_buyers_units_nonnegative')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_flash_sale_buyers_buyer_id_users')),
    sa.ForeignKeyConstraint(['sale_id'], ['flash_sales.id'], name=op.f('fk_flash_sale_buyers_sale_id_flash_sales')),
    sa.PrimaryKeyConstraint('sale_id', 'buyer_id', name=op.f('pk_flash_sale_buyers'))
    )
    op.create_table('flash_sale_holds',
    sa.Column('reservation_id', sa.String(length=32), nullable=False),
    sa.Column('sale_id', sa.String(length=32), nullable=False),
    sa.Column('buyer_id', sa.String(length=32), nullable=False),
    sa.Column('offer_id', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price_amount', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('checkout_id', sa.String(length=32), nullable=True),
    sa.Column('ticket_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('held', 'sold', 'returned')", name=op.f('ck_flash_sale_holds_status_known')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_flash_sale_holds_quantity_positive')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_flash_sale_holds_buyer_id_users')),
    sa.ForeignKeyConstraint(['sale_id'], ['flash_sales.id'], name=op.f('fk_flash_sale_holds_sale_id_flash_sales')),
    sa.PrimaryKeyConstraint('reservation_id', name=op.f('pk_flash_sale_holds'))
    )
    with op.batch_alter_table('flash_sale_holds', schema=None) as batch_op:
        batch_op.create_index('ix_flash_sale_holds_buyer_offer', ['buyer_id', 'offer_id', 'status'], unique=False)
        batch_op.create_index('ix_flash_sale_holds_sale_created', ['sale_id', 'created_at'], unique=False)

    op.create_table('flash_sale_tickets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('sale_id', sa.String(length=32), nullable=False),
    sa.Column('buyer_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('admitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('admitted_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('waiting', 'admitted', 'expired', 'left')", name=op.f('ck_flash_sale_tickets_status_known')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_flash_sale_tickets_buyer_id_users')),
    sa.ForeignKeyConstraint(['sale_id'], ['flash_sales.id'], name=op.f('fk_flash_sale_tickets_sale_id_flash_sales')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flash_sale_tickets'))
    )
    with op.batch_alter_table('flash_sale_tickets', schema=None) as batch_op:
        batch_op.create_index('ix_flash_sale_tickets_sale_status_seq', ['sale_id', 'status', 'seq'], unique=False)
        batch_op.create_index('uq_flash_sale_tickets_sale_buyer', ['sale_id', 'buyer_id'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('flash_sale_tickets', schema=None) as batch_op:
        batch_op.drop_index('uq_flash_sale_tickets_sale_buyer')
        batch_op.drop_index('ix_flash_sale_tickets_sale_status_seq')

    op.drop_table('flash_sale_tickets')
    with op.batch_alter_table('flash_sale_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_flash_sale_holds_sale_created')
        batch_op.drop_index('ix_flash_sale_holds_buyer_offer')

    op.drop_table('flash_sale_holds')
    op.drop_table('flash_sale_buyers')
    with op.batch_alter_table('flash_sales', schema=None) as batch_op:
        batch_op.drop_index('ix_flash_sales_status_starts')
        batch_op.drop_index('ix_flash_sales_seller_created')
        batch_op.drop_index(batch_op.f('ix_flash_sales_product_id'))
        batch_op.drop_index('ix_flash_sales_offer_ends')

    op.drop_table('flash_sales')
