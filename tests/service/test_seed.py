"""The demo catalog seed: a realistic shape, the demo logins, determinism and idempotency."""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bazaar.accounts.models import Seller, User
from bazaar.accounts.passwords import Passwords
from bazaar.catalog.models import Category, Offer, Product, Sku
from bazaar.db.engine import create_database
from bazaar.db.migrate import upgrade
from bazaar.inventory.models import StockBucket
from bazaar.kernel.ids import seeded_id
from bazaar.seed.data import brand_names
from bazaar.seed.generator import fast_seeded_id, gtin13
from bazaar.seed.loader import BUYER_EMAIL, DEMO_PASSWORD, SELLER_EMAIL, SeedResult, seed_catalog, seed_if_empty
from bazaar.settings import Settings

PRODUCTS = 200
SEED = 7


def _settings(directory: Path, database_url: str | None = None) -> Settings:
    # Explicit database_url: a BAZAAR_DATABASE_URL in the environment must not redirect these tests.
    return Settings(data_dir=directory, database_url=database_url, password_hash_profile="fast")


async def _seed(settings: Settings, products: int = PRODUCTS) -> SeedResult:
    upgrade(settings)
    return await seed_catalog(settings, products=products, seed=SEED)


async def _all(settings: Settings, statement: Any) -> list[Any]:
    db = create_database(settings)
    try:
        async with db.read_engine.connect() as conn:
            return list(await conn.execute(statement))
    finally:
        await db.dispose()


async def _catalog_ids(settings: Settings) -> list[tuple[str, str]]:
    return [tuple(r) for r in await _all(settings, select(Product.id, Product.title).order_by(Product.id))]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, SeedResult]:
    settings = _settings(tmp_path_factory.mktemp("seed"))
    return settings, asyncio.run(_seed(settings))


async def test_the_category_tree_has_three_levels_with_materialised_paths(seeded: tuple[Settings, SeedResult]) -> None:
    settings, result = seeded
    categories = {r.id: r for r in await _all(settings, select(Category))}
    assert len(categories) >= 150 and result.categories == len(categories)
    assert {c.depth for c in categories.values()} == {0, 1, 2}
    assert len({c.slug for c in categories.values()}) == len(categories)
    for category in categories.values():
        parent_path = categories[category.parent_id].path if category.parent_id else "/"
        assert category.path == f"{parent_path}{category.id}/"
    product_categories = {r.category_id for r in await _all(settings, select(Product.category_id))}
    assert all(categories[c].depth == 2 for c in product_categories)
    assert len(product_categories) > 60  # products spread over many leaves


async def test_products_come_from_a_large_brand_pool(seeded: tuple[Settings, SeedResult]) -> None:
    settings, result = seeded
    assert len(set(brand_names())) >= 500
    brands = Counter(r.brand for r in await _all(settings, select(Product.brand)))
    assert len(brands) >= 60 and result.brands == len(brands)
    products = await _all(settings, select(Product))
    assert all(p.title.startswith(p.brand + " ") for p in products)
    assert all(0 <= p.rating_average <= 5 and p.weight_grams > 0 and p.description for p in products)
    assert all(isinstance(p.attributes, dict) and p.attributes for p in products)


async def test_every_product_has_skus_and_offers_from_distinct_sellers(seeded: tuple[Settings, SeedResult]) -> None:
    settings, result = seeded
    skus_per_product = Counter(r.product_id for r in await _all(settings, select(Sku.product_id)))
    assert len(skus_per_product) == PRODUCTS and set(skus_per_product.values()) <= {1, 2, 3, 4}
    assert max(skus_per_product.values()) > 1
    offers = await _all(settings, select(Offer))
    sellers_by_sku: dict[str, list[str]] = defaultdict(list)
    for offer in offers:
        sellers_by_sku[offer.sku_id].append(offer.seller_id)
    assert len(sellers_by_sku) == sum(skus_per_product.values()) == result.skus and len(offers) == result.offers
    assert all(1 <= len(s) <= 5 and len(set(s)) == len(s) for s in sellers_by_sku.values())
    assert {o.condition for o in offers} == {"new", "used", "refurbished"}
    assert all(o.price_amount > 0 and o.bucket_count == 1 and o.currency == "USD" for o in offers)
    assert any(o.shipping_amount == 0 for o in offers) and any(o.shipping_amount > 0 for o in offers)
    gtins = [r.gtin for r in await _all(settings, select(Sku.gtin)) if r.gtin is not None]
    assert len(set(gtins)) == len(gtins) and all(len(g) == 13 and g.isdigit() for g in gtins)


async def test_each_offer_has_one_stock_bucket_some_low_some_sold_out(seeded: tuple[Settings, SeedResult]) -> None:
    settings, result = seeded
    buckets = await _all(settings, select(StockBucket))
    assert len(buckets) == len({b.offer_id for b in buckets}) == result.offers
    assert all(b.bucket == 0 and b.on_hand == b.available for b in buckets)
    stock = [b.available for b in buckets]
    assert any(s == 0 for s in stock) and any(1 <= s <= 5 for s in stock)
    assert sum(s > 5 for s in stock) > len(stock) / 2


async def test_demo_buyer_and_seller_can_log_in(seeded: tuple[Settings, SeedResult]) -> None:
    settings, _ = seeded
    users = {r.email: r for r in await _all(settings, select(User))}
    passwords = Passwords("fast")
    for email in (BUYER_EMAIL, SELLER_EMAIL):
        assert await passwords.verify(users[email].password_hash, DEMO_PASSWORD)
    seller_users = {r.user_id for r in await _all(settings, select(Seller.user_id))}
    assert users[SELLER_EMAIL].id in seller_users and users[BUYER_EMAIL].id not in seller_users


async def test_a_second_run_adds_nothing(seeded: tuple[Settings, SeedResult]) -> None:
    settings, first = seeded
    before = await _catalog_ids(settings)
    again = await seed_catalog(settings, products=PRODUCTS, seed=SEED)
    assert (again.products, again.skus, again.offers, again.categories, again.sellers, again.users) == (0,) * 6
    assert again.products_total == first.products_total == PRODUCTS
    assert await _catalog_ids(settings) == before
    assert await seed_if_empty(settings, products=50) is None


async def test_the_same_seed_gives_the_same_catalog_even_when_grown_in_steps(
    seeded: tuple[Settings, SeedResult], tmp_path: Path
) -> None:
    settings, _ = seeded
    fresh = _settings(tmp_path / "fresh")
    await _seed(fresh)
    assert await _catalog_ids(fresh) == await _catalog_ids(settings)
    offers = select(Offer.id, Offer.price_amount, Offer.seller_id).order_by(Offer.id)
    assert await _all(fresh, offers) == await _all(settings, offers)

    grown = _settings(tmp_path / "grown")
    await _seed(grown, products=120)
    step = await seed_catalog(grown, products=PRODUCTS, seed=SEED)
    assert step.products == PRODUCTS - 120 and step.categories == 0
    assert await _catalog_ids(grown) == await _catalog_ids(settings)

    other = _settings(tmp_path / "other")
    upgrade(other)
    await seed_catalog(other, products=20, seed=SEED + 1)
    assert not {i for i, _ in await _catalog_ids(other)} & {i for i, _ in await _catalog_ids(settings)}


def test_fast_ids_are_the_kernel_ids() -> None:
    draw = random.Random(1)
    for _ in range(2000):
        ms, state = draw.randrange(2**48), draw.getrandbits(64)
        assert fast_seeded_id(random.Random(state), ms) == seeded_id(random.Random(state), ms)


def test_gtins_are_valid_and_distinct_across_products_skus_and_seeds() -> None:
    gtins = {gtin13(seed, index, sku) for seed in (1, 2) for index in range(2000) for sku in range(4)}
    assert len(gtins) == 2 * 2000 * 4
    for gtin in list(gtins)[:200]:
        digits = [int(d) for d in gtin]
        assert sum(d * (3 if pos % 2 else 1) for pos, d in enumerate(digits)) % 10 == 0


@pytest.mark.skipif(not os.environ.get("BAZAAR_TEST_DATABASE_URL"), reason="BAZAAR_TEST_DATABASE_URL is not set")
async def test_postgres_copy_path_reads_back_like_the_orm_wrote_it(tmp_path: Path) -> None:
    import asyncpg

    base, _, name = os.environ["BAZAAR_TEST_DATABASE_URL"].rpartition("/")
    url = f"{base}/{name}_seed"
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}_seed" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}_seed"')
        settings = _settings(tmp_path, url)
        result = await _seed(settings, products=100)
        assert result.backend == "postgresql" and result.products == 100
        assert await _catalog_ids(settings) == (await _catalog_ids(await _sqlite_twin(tmp_path)))
        product = (await _all(settings, select(Product).limit(1)))[0]
        assert product.created_at.tzinfo is not None and isinstance(product.attributes, dict)
        assert (await seed_catalog(settings, products=100, seed=SEED)).products == 0
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}_seed" WITH (FORCE)')
        await admin.close()


async def _sqlite_twin(tmp_path: Path) -> Settings:
    twin = _settings(tmp_path / "twin")
    await _seed(twin, products=100)
    return twin
