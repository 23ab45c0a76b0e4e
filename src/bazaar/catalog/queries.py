"""Catalog read queries used by pages and the API."""

from __future__ import annotations

from sqlalchemy import func, select

from bazaar.catalog.models import Category, Product
from bazaar.db.uow import UnitOfWork


async def count_products(*, uow: UnitOfWork) -> int:
    return int((await uow.session.execute(select(func.count()).select_from(Product))).scalar_one())


async def root_categories(*, uow: UnitOfWork) -> list[dict[str, str]]:
    rows = await uow.session.execute(
        select(Category.id, Category.slug, Category.name)
        .where(Category.parent_id.is_(None))
        .order_by(Category.position)
    )
    return [{"id": r.id, "slug": r.slug, "name": r.name} for r in rows]
