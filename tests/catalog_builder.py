"""Test data for catalog and search tests: a small category tree, API helpers, and a bulk catalog
written straight to the database with every fact a search result should reflect."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from bazaar.accounts.models import Seller, User
from bazaar.bootstrap import Container
from bazaar.catalog.models import Category, Offer, Product, Sku
from bazaar.inventory.models import StockBucket
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ids import new_id
from bazaar.search.indexer import Indexer
from tests.helpers import API, drain_events

# name -> parent name; the tree used by every catalog test
TREE = {
    "Electronics": None,
    "Audio": "Electronics",
    "Headphones": "Audio",
    "Speakers": "Audio",
    "Computers": "Electronics",
    "Mice": "Computers",
    "Home": None,
    "Kitchen": "Home",
}


async def make_categories(container: Container) -> dict[str, str]:
    """Create TREE; answers name -> id."""
    ids: dict[str, str] = {}
    async with container.uow() as uow:
        for position, (name, parent) in enumerate(TREE.items()):
            cid = new_id()
            parent_id = ids[parent] if parent else None
            parent_path = "/"
            depth = 0
            if parent:
                node, depth = parent, 1
                chain = []
                while node:
                    chain.append(ids[node])
                    node = TREE[node]
                parent_path = "/" + "/".join(reversed(chain)) + "/"
                depth = len(chain)
            uow.session.add(
                Category(
                    id=cid,
                    parent_id=parent_id,
                    slug=name.lower(),
                    name=name,
                    path=f"{parent_path}{cid}/",
                    depth=depth,
                    position=position,
                )
            )
            ids[name] = cid
            await uow.flush()
        await uow.commit()
    return ids


async def api_product(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    title: str,
    brand: str,
    category_id: str,
    description: str = "",
    skus: int = 1,
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/products",
        json={
            "title": title,
            "description": description,
            "brand": brand,
            "category_id": category_id,
            "attributes": {"colour": "black"},
            "skus": [{"attributes": {"size": str(i)}} for i in range(skus)],
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def api_offer(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    sku_id: str,
    price: int,
    shipping: int = 0,
    quantity: int = 10,
    condition: str = "new",
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/sellers/me/offers",
        json={
            "sku_id": sku_id,
            "price": {"amount": price, "currency": "USD"},
            "shipping_price": {"amount": shipping, "currency": "USD"},
            "condition": condition,
            "quantity": quantity,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def index_now(container: Container) -> None:
    """Deliver pending events and commit the indexer's batch at once (the worker would within a second)."""
    await drain_events(container)
    indexer: Indexer = container.extras["search_indexer"]
    if not indexer._started:
        await indexer.run_once()
    while indexer.pending:
        await indexer.index_pending()


async def rebuild_index(container: Container) -> None:
    indexer: Indexer = container.extras["search_indexer"]
    await indexer.rebuild()


@dataclass
class BuiltProduct:
    id: str
    title: str
    brand: str
    category_id: str
    category_ids: tuple[str, ...]  # the category and its ancestors
    price_from: int | None
    rating: float
    created_rank: int


WORDS = ["wireless", "bluetooth", "studio", "compact", "portable", "ergonomic", "premium", "classic", "travel"]
NOUNS = {"Headphones": "headphones", "Speakers": "speaker", "Mice": "mouse", "Kitchen": "kettle"}
BRANDS = ["Sony", "Bose", "Logitech", "Philips", "Anker", "JBL"]


async def bulk_catalog(
    container: Container, categories: dict[str, str], *, n: int, seed: int = 7
) -> list[BuiltProduct]:
    """n products with 0-3 offers each (some sold out), written directly to the database."""
    rng = random.Random(seed)
    ancestors = {name: _ancestors(name, categories) for name in NOUNS}
    built: list[BuiltProduct] = []
    now = utcnow()
    async with container.uow() as uow:
        sellers = []
        for i in range(3):
            user = User(email=f"bulk{i}-{new_id()}@example.com", name="Bulk", password_hash="x")
            uow.session.add(user)
            await uow.flush()
            seller = Seller(user_id=user.id, display_name=f"Bulk Seller {i}", rating_average=3.0 + i)
            uow.session.add(seller)
            sellers.append(seller)
        await uow.flush()
        for i in range(n):
            leaf = rng.choice(list(NOUNS))
            brand = rng.choice(BRANDS)
            title = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {NOUNS[leaf]} model {i}"
            rating = round(rng.choice([0, 1.5, 2.0, 3.2, 3.9, 4.0, 4.5, 5.0]), 1)
            product = Product(
                title=title,
                brand=brand,
                description=f"A {NOUNS[leaf]} by {brand}.",
                category_id=categories[leaf],
                rating_average=rating,
                rating_count=rng.randint(0, 500),
                created_at=now - timedelta(minutes=n - i),
            )
            uow.session.add(product)
            await uow.flush()
            sku = Sku(product_id=product.id, attributes={})
            uow.session.add(sku)
            await uow.flush()
            in_stock_prices = []
            for seller in rng.sample(sellers, rng.randint(0, 3)):
                price = rng.choice([499, 999, 1000, 2499, 4999, 7500, 12000, 30000, 60000, 150000])
                quantity = rng.choice([0, 0, 3, 20])
                offer = Offer(sku_id=sku.id, product_id=product.id, seller_id=seller.id, price_amount=price)
                uow.session.add(offer)
                await uow.flush()
                uow.session.add(StockBucket(offer_id=offer.id, bucket=0, on_hand=quantity, available=quantity))
                if quantity:
                    in_stock_prices.append(price)
            built.append(
                BuiltProduct(
                    id=product.id,
                    title=title,
                    brand=brand,
                    category_id=categories[leaf],
                    category_ids=ancestors[leaf],
                    price_from=min(in_stock_prices) if in_stock_prices else None,
                    rating=rating,
                    created_rank=i,
                )
            )
        await uow.commit()
    return built


def _ancestors(name: str, categories: dict[str, str]) -> tuple[str, ...]:
    chain: list[str] = []
    node: str | None = name
    while node:
        chain.append(categories[node])
        node = TREE[node]
    return tuple(chain)
