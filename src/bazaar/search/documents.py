"""What the index knows about a product, read from the database by the indexer (never by a search)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import tantivy
from sqlalchemy import func, select

from bazaar.catalog.models import Category, Offer, Product
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.models import StockBucket
from bazaar.kernel.clock import aware
from bazaar.search.index import CATEGORY_LEVELS, SEP

# Price facet edges in cents: bucket i is [PRICE_EDGES[i], PRICE_EDGES[i + 1]), the last one open-ended.
PRICE_EDGES = (0, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000)
RATING_BUCKETS = 5  # whole stars: 0 (<1), 1, 2, 3, 4 (4 and up)
NO_PRICE = "-"  # the price bucket of a product nobody has in stock (not shown as a facet)


def price_bucket(cents: int) -> str:
    return str(bisect_right(PRICE_EDGES, cents) - 1)


def rating_bucket(rating: float) -> str:
    return str(min(RATING_BUCKETS - 1, max(0, int(rating))))


def facet_key(price: int | None, rating: float) -> str:
    """The product's price bucket and whole stars as one facet value, "3:4"; NO_PRICE for no price."""
    return f"{NO_PRICE if price is None else price_bucket(price)}:{rating_bucket(rating)}"


@dataclass(frozen=True)
class CategoryInfo:
    id: str
    slug: str
    name: str
    parent_id: str | None

    def facet_value(self) -> str:
        return SEP.join((self.id, self.slug, self.name))


@dataclass(frozen=True)
class ProductFacts:
    id: str
    title: str
    brand: str
    description: str
    category_path: tuple[CategoryInfo, ...]  # root first, the product's own category last
    price_from: int | None  # lowest price among in-stock offers, shipping excluded
    currency: str
    rating: float
    rating_count: int
    created: datetime
    image: dict[str, str] | None = None  # the first image's variant URLs

    def card(self) -> bytes:
        """The product as a search result lists it: the JSON of a `SearchItem`, field for field."""
        leaf = self.category_path[-1]
        price = None if self.price_from is None else {"amount": int(self.price_from), "currency": self.currency}
        return orjson.dumps(
            {
                "id": self.id,
                "title": self.title,
                "brand": self.brand,
                "category": {"id": leaf.id, "slug": leaf.slug, "name": leaf.name},
                "price_from": price,
                "rating": round(float(self.rating), 2),
                "rating_count": int(self.rating_count),
                "in_stock": self.price_from is not None,
                "image": self.image,
            }
        )

    def document(self, schema: tantivy.Schema) -> tantivy.Document:
        fields: dict[str, Any] = {
            "id": self.id,
            "card": self.card(),
            "title": self.title,
            "title_plain": self.title,
            "brand": self.brand,
            "brand_key": self.brand.lower(),
            "brand_text": self.brand,
            "description": self.description,
            "category_text": " ".join(c.name for c in self.category_path),
            "match_text": " ".join((self.title, *(c.name for c in self.category_path), self.description)),
            "category_ids": [f"{depth}:{c.id}" for depth, c in enumerate(self.category_path)],
            "rating": float(self.rating),
            "rating_count": int(self.rating_count),
            "rating_bucket": rating_bucket(self.rating),
            "in_stock": self.price_from is not None,
            "price_rating": facet_key(self.price_from, self.rating),
            "created": int(aware(self.created).timestamp() * 1000),
        }
        for level in range(CATEGORY_LEVELS):
            fields[f"cat_l{level}"] = self.category_path[min(level, len(self.category_path) - 1)].facet_value()
        if self.price_from is not None:
            fields["price"] = int(self.price_from)
        # from_dict with the schema: the one way that types u64 fields safely.
        return tantivy.Document.from_dict(fields, schema)


async def load_categories(uow: UnitOfWork) -> dict[str, CategoryInfo]:
    rows = await uow.session.execute(select(Category.id, Category.slug, Category.name, Category.parent_id))
    return {r.id: CategoryInfo(r.id, r.slug, r.name, r.parent_id) for r in rows}


def category_path(categories: dict[str, CategoryInfo], category_id: str) -> tuple[CategoryInfo, ...]:
    path: list[CategoryInfo] = []
    current = categories.get(category_id)
    while current is not None and len(path) < 32:
        path.append(current)
        current = categories.get(current.parent_id) if current.parent_id else None
    return tuple(reversed(path)) or (CategoryInfo(category_id, category_id, category_id, None),)


async def _lowest_prices(uow: UnitOfWork, product_ids: list[str]) -> dict[str, int]:
    """Per product, the lowest price among active offers that have units available."""
    # A correlated sum per offer, not a join with GROUP BY offer id: with a long IN list SQLite
    # would satisfy that GROUP BY by scanning every offer in primary-key order.
    available = (
        select(func.coalesce(func.sum(StockBucket.available), 0))
        .where(StockBucket.offer_id == Offer.id)
        .correlate(Offer)
        .scalar_subquery()
    )
    rows = await uow.session.execute(
        select(Offer.product_id, Offer.price_amount).where(
            Offer.product_id.in_(product_ids), Offer.status == "active", available > 0
        )
    )
    lowest: dict[str, int] = {}
    for product_id, price in rows:
        if product_id not in lowest or price < lowest[product_id]:
            lowest[product_id] = int(price)
    return lowest


async def load_facts(
    uow: UnitOfWork, product_ids: Iterable[str], categories: dict[str, CategoryInfo]
) -> list[ProductFacts]:
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return []
    # Plain column rows, not ORM entities: a full rebuild reads every product, and this is its hot loop.
    products = await uow.session.execute(
        select(
            Product.id,
            Product.title,
            Product.brand,
            Product.description,
            Product.category_id,
            Product.rating_average,
            Product.rating_count,
            Product.created_at,
            Product.images,
        ).where(Product.id.in_(ids), Product.status == "active")  # a taken-down product leaves the index
    )
    prices = await _lowest_prices(uow, ids)
    return [
        ProductFacts(
            id=p.id,
            title=p.title,
            brand=p.brand,
            description=p.description,
            category_path=category_path(categories, p.category_id),
            price_from=prices.get(p.id),
            currency="USD",
            rating=p.rating_average,
            rating_count=p.rating_count,
            created=p.created_at,
            image=p.images[0]["urls"] if p.images else None,
        )
        for p in products
    ]


async def iter_all_facts(
    uow: UnitOfWork, categories: dict[str, CategoryInfo], batch: int = 2000
) -> AsyncIterator[list[ProductFacts]]:
    """Every product, in id order, a batch at a time (keyset pagination: constant cost per batch)."""
    after = ""
    while True:
        query = select(Product.id).where(Product.id > after).order_by(Product.id).limit(batch)
        ids = list((await uow.session.execute(query)).scalars())
        if not ids:
            return
        yield await load_facts(uow, ids, categories)
        after = ids[-1]
