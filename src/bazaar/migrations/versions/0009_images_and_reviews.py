"""Product images (content-addressed WebP variants) and verified reviews; products keep the copy pages show.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("images", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("rating_histogram", sa.JSON(), nullable=True))
    op.create_table(
        "product_images",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("seller_id", sa.String(length=32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("thumb_key", sa.String(length=80), nullable=False),
        sa.Column("medium_key", sa.String(length=80), nullable=False),
        sa.Column("large_key", sa.String(length=80), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_product_images_product_id_products"),
        sa.ForeignKeyConstraint(["seller_id"], ["sellers.id"], name="fk_product_images_seller_id_sellers"),
        sa.PrimaryKeyConstraint("id", name="pk_product_images"),
    )
    op.create_index("ix_product_images_product_position", "product_images", ["product_id", "position"])
    op.create_index("ix_product_images_thumb_key", "product_images", ["thumb_key"])
    op.create_index("ix_product_images_medium_key", "product_images", ["medium_key"])
    op.create_index("ix_product_images_large_key", "product_images", ["large_key"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=True),
        sa.Column("author_name", sa.String(length=120), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hidden_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating >= 1 AND rating <= 5", name=op.f("ck_reviews_rating_range")),
        sa.CheckConstraint("status IN ('published', 'hidden')", name=op.f("ck_reviews_status_known")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_reviews_product_id_products"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name="fk_reviews_author_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        sa.UniqueConstraint("product_id", "author_id", name="uq_reviews_product_author"),
    )
    op.create_index("ix_reviews_product_created", "reviews", ["product_id", "created_at"])
    op.create_index("ix_reviews_product_rating", "reviews", ["product_id", "rating"])
    op.create_index("ix_reviews_author_id", "reviews", ["author_id"])


def downgrade() -> None:
    op.drop_index("ix_reviews_author_id", table_name="reviews")
    op.drop_index("ix_reviews_product_rating", table_name="reviews")
    op.drop_index("ix_reviews_product_created", table_name="reviews")
    op.drop_table("reviews")
    for name in ("large", "medium", "thumb"):
        op.drop_index(f"ix_product_images_{name}_key", table_name="product_images")
    op.drop_index("ix_product_images_product_position", table_name="product_images")
    op.drop_table("product_images")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("rating_histogram")
        batch_op.drop_column("images")
