"""`bazaar seed`: a deterministic, idempotent demo catalog, bulk-loaded by executemany (SQLite) or COPY (PostgreSQL).

Every product is generated from its own random stream (seed and index), so a run can skip the
products that already exist and still produce exactly what a fresh run would. Categories and
sellers do not depend on the seed, so catalogs from several seeds can share one database.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import column, func, insert, select, table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from tqdm import tqdm

from bazaar.accounts.models import Seller, User
from bazaar.accounts.passwords import Passwords
from bazaar.catalog.models import Category, Product
from bazaar.db.engine import Database, create_database
from bazaar.kernel.ids import seeded_id
from bazaar.seed.data import DEPARTMENTS, Department, Sub, brand_names, seller_name
from bazaar.settings import Settings

DEMO_PASSWORD = "bazaar-demo"
BUYER_EMAIL = "buyer@example.com"
SELLER_EMAIL = "seller@example.com"
CHUNK = 5000  # products generated and written per transaction

# A fixed "now" for the demo data: the same seed gives the same timestamps whenever it runs.
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
EPOCH_MS = int(EPOCH.timestamp() * 1000)
DAY_MS = 86_400_000
ACCOUNTS_MS = EPOCH_MS - 400 * DAY_MS  # accounts and categories predate every product
# The time part of a product's ids (its own, its SKUs', its offers') is its index, not its random listing
# date: then every primary-key and foreign-key index grows at its right edge instead of taking inserts
# on random pages, which is what slows a million-product load once the indexes outgrow the buffer cache.
# Listing dates live in created_at.
IDS_MS = EPOCH_MS - 366 * DAY_MS

SKU_WEIGHTS = (45, 75, 92, 100)  # cumulative: 1–4 SKUs per product, mostly one or two
OFFER_WEIGHTS = (42, 68, 84, 94, 100)  # cumulative: 1–5 offers per SKU
COLUMNS: dict[str, tuple[str, ...]] = {
    "products": (
        "id",
        "title",
        "description",
        "brand",
        "category_id",
        "attributes",
        "rating_average",
        "rating_count",
        "tax_category",
        "weight_grams",
        "image_url",
        "created_by_seller_id",
        "created_at",
        "updated_at",
    ),
    "skus": ("id", "product_id", "attributes", "gtin", "created_at"),
    "offers": (
        "id",
        "sku_id",
        "product_id",
        "seller_id",
        "price_amount",
        "shipping_amount",
        "list_price_amount",
        "currency",
        "condition",
        "status",
        "bucket_count",
        "created_at",
        "updated_at",
    ),
    "stock_buckets": ("offer_id", "bucket", "on_hand", "available"),
}


@dataclass(frozen=True)
class SeedResult:
    """What one run added (a repeated run adds nothing) and how long it took."""

    backend: str
    categories: int
    brands: int
    sellers: int
    users: int
    products: int
    skus: int
    offers: int
    products_total: int
    seconds: float

    @property
    def rows(self) -> int:
        # Each offer also has one stock bucket row.
        return self.categories + self.sellers + self.users + self.products + self.skus + 2 * self.offers

    def summary(self) -> str:
        if self.products == 0 and self.rows == 0:
            head = f"Catalog already seeded: nothing to add ({self.products_total:,} products present)."
        else:
            head = (
                f"Seeded {self.products:,} products ({self.skus:,} SKUs, {self.offers:,} offers, "
                f"{self.brands:,} brands), {self.categories:,} categories and {self.sellers:,} sellers "
                f"into {self.backend} in {self.seconds:.1f} s ({self.rows / max(self.seconds, 1e-9):,.0f} rows/s); "
                f"{self.products_total:,} products in total."
            )
        logins = f"{BUYER_EMAIL} / {DEMO_PASSWORD} (buyer), {SELLER_EMAIL} / {DEMO_PASSWORD} (seller)"
        return f"{head}\nDemo logins: {logins}."


@dataclass(frozen=True)
class Leaf:
    id: str
    slug: str
    name: str
    department: Department
    sub: Sub
    nouns: tuple[str, ...]
    brands: tuple[str, ...]
    features: dict[str, tuple[str, ...]]  # per noun, the title features that do not repeat it ("Sparkling")


@dataclass
class Chunk:
    """Rows for a batch of products, in the column order of COLUMNS."""

    products: list[tuple[Any, ...]] = field(default_factory=list)
    skus: list[tuple[Any, ...]] = field(default_factory=list)
    offers: list[tuple[Any, ...]] = field(default_factory=list)
    stock_buckets: list[tuple[Any, ...]] = field(default_factory=list)
    brands: set[str] = field(default_factory=set)

    def tables(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        # Parents before children, for the foreign keys.
        return [
            ("products", self.products),
            ("skus", self.skus),
            ("offers", self.offers),
            ("stock_buckets", self.stock_buckets),
        ]


def default_sellers(products: int) -> int:
    """Enough sellers that offers spread out, few enough that each has a real shop."""
    return min(2000, max(20, products // 200))


def gtin13(seed: int, index: int, sku: int) -> str:
    """A GTIN-13 unique per (seed mod 1000, product index < 250M, SKU number), with a valid check digit.

    Consecutive products get consecutive numbers, like one manufacturer's items, which keeps the unique index
    growing at its edge; the shift only makes them look like European article numbers.
    """
    plain = (seed % 1000) * 10**9 + index * 4 + sku
    body = f"{(plain + 400_000_000_000) % 10**12:012d}"
    total = sum(map(int, body[0::2])) + 3 * sum(map(int, body[1::2]))
    return body + str((10 - total % 10) % 10)


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in CROCKFORD for b in CROCKFORD]  # every 10-bit value as two base32 digits


def fast_seeded_id(rng: random.Random, ms: int) -> str:
    """Exactly `kernel.ids.seeded_id`, several times faster: ids were most of the generation time."""
    return _id_time(ms) + _id_random(rng)


def _id_time(ms: int) -> str:
    return (
        _PAIRS[ms >> 40]
        + _PAIRS[ms >> 30 & 1023]
        + _PAIRS[ms >> 20 & 1023]
        + _PAIRS[ms >> 10 & 1023]
        + _PAIRS[ms & 1023]
    )


def _id_random(rng: random.Random) -> str:
    bits = rng.getrandbits(80)
    return (
        _PAIRS[bits >> 70]
        + _PAIRS[bits >> 60 & 1023]
        + _PAIRS[bits >> 50 & 1023]
        + _PAIRS[bits >> 40 & 1023]
        + _PAIRS[bits >> 30 & 1023]
        + _PAIRS[bits >> 20 & 1023]
        + _PAIRS[bits >> 10 & 1023]
        + _PAIRS[bits & 1023]
    )


def _stamp_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _stamp_sqlite(ms: int) -> str:
    # The text SQLAlchemy itself stores for a DateTime on SQLite, so the ORM reads these back unchanged.
    dt = _stamp_datetime(ms)
    return f"{dt:%Y-%m-%d %H:%M:%S}.{dt.microsecond:06d}"


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


class Generator:
    """Builds product rows; product `i` depends only on (seed, i) and the seller count.

    Picks use `rng.random()` rather than `choice`/`randrange`/`sample`: at a million products the
    generator is a third of the load time, and those helpers cost several times more per draw.
    """

    def __init__(self, *, seed: int, leaves: Sequence[Leaf], seller_ids: Sequence[str], postgres: bool) -> None:
        self.seed = seed
        self.leaves = leaves
        self.seller_ids = seller_ids
        self.stamp = _stamp_datetime if postgres else _stamp_sqlite

    def _rng(self, index: int) -> random.Random:
        return random.Random(f"{self.seed}:{index}")

    def product_id(self, index: int) -> str:
        return fast_seeded_id(self._rng(index), IDS_MS + index)

    def build(self, indices: Sequence[int]) -> Chunk:
        chunk = Chunk()
        for index in indices:
            self._product(chunk, index)
        # Rows in key order touch each index page once per chunk instead of once per row.
        for _name, rows in chunk.tables():
            rows.sort()
        return chunk

    def _product(self, chunk: Chunk, index: int) -> None:
        rng = self._rng(index)
        id_time = _id_time(IDS_MS + index)  # shared by the product's, its SKUs' and its offers' ids
        product_id = id_time + _id_random(rng)  # the first draw, as in product_id()
        draw = rng.random
        created = EPOCH_MS - int(draw() * 365 * DAY_MS)
        leaf = _one(draw, self.leaves)
        dept, sub = leaf.department, leaf.sub
        brand = leaf.brands[int(len(leaf.brands) * draw() ** 2)]  # a few big brands, a long tail
        noun = _one(draw, leaf.nouns)
        features = _distinct(draw, leaf.features[noun], 2 if draw() < 0.35 else 1)
        title = " ".join((brand, *features, noun))
        attributes = _attributes(draw, dept, brand)
        description = " ".join(
            (
                f"Meet the {title}.",
                *_distinct(draw, dept.phrases, 2),
                *(f"{key.replace('_', ' ').capitalize()}: {value}." for key, value in attributes.items()),
            )
        )
        rating_count = 0 if draw() < 0.15 else min(25_000, int(4 / (1.0 - draw()) ** (1 / 1.1)))  # Pareto
        rating = round(min(5.0, max(1.0, rng.gauss(4.2, 0.55))), 1) if rating_count else 0.0
        weight = int(sub.grams[0] * (sub.grams[1] / sub.grams[0]) ** draw())
        base_cents = sub.price[0] * 100 * (sub.price[1] / sub.price[0]) ** draw()
        stamp = self.stamp(created)
        first_seller = self._skus(chunk, rng, (index, id_time, product_id), (created, stamp), leaf, base_cents, weight)
        chunk.products.append(
            (
                product_id,
                title,
                description,
                brand,
                leaf.id,
                _json(attributes),
                rating,
                rating_count,
                dept.tax_category,
                weight,
                None,
                first_seller,
                stamp,
                stamp,
            )
        )
        chunk.brands.add(brand)

    def _skus(
        self,
        chunk: Chunk,
        rng: random.Random,
        product: tuple[int, str, str],
        created: tuple[int, Any],
        leaf: Leaf,
        base_cents: float,
        weight: int,
    ) -> str:
        index, id_time, product_id = product
        draw = rng.random
        primary, *others = leaf.sub.axes or leaf.department.axes
        fixed = {axis.name: _one(draw, axis.values) for axis in others}
        count = min(bisect(SKU_WEIGHTS, draw() * SKU_WEIGHTS[-1]) + 1, len(primary.values))
        positions = sorted(_distinct(draw, range(len(primary.values)), count))
        first_seller = ""
        for number, position in enumerate(positions):
            sku_id = id_time + _id_random(rng)
            gtin = gtin13(self.seed, index, number) if draw() < 0.85 else None
            attributes = {primary.name: primary.values[position], **fixed}
            chunk.skus.append((sku_id, product_id, _json(attributes), gtin, created[1]))
            cents = base_cents * (primary.prices[position] if primary.prices else 1.0)
            seller = self._offers(chunk, rng, id_time, product_id, sku_id, created[0], cents, weight)
            first_seller = first_seller or seller
        return first_seller

    def _offers(
        self,
        chunk: Chunk,
        rng: random.Random,
        id_time: str,
        product_id: str,
        sku_id: str,
        created: int,
        cents: float,
        weight: int,
    ) -> str:
        draw = rng.random
        count = min(bisect(OFFER_WEIGHTS, draw() * OFFER_WEIGHTS[-1]) + 1, len(self.seller_ids))
        sellers = [self.seller_ids[n] for n in _distinct(draw, range(len(self.seller_ids)), count)]
        for seller in sellers:
            condition, low, high = _condition(draw())
            price = _retail_price(draw, cents * (low + (high - low) * draw()))
            shipping = _shipping(draw, price, weight)
            at = self.stamp(min(EPOCH_MS, created + int(draw() * 30 * DAY_MS)))
            offer_id = id_time + _id_random(rng)
            listed = _list_price(offer_id, price)
            chunk.offers.append(
                (offer_id, sku_id, product_id, seller, price, shipping, listed, "USD", condition, "active", 1, at, at)
            )
            stock = _stock(draw)
            chunk.stock_buckets.append((offer_id, 0, stock, stock))
        return sellers[0]


def _list_price(offer_id: str, price: int) -> int | None:
    """About one offer in five shows a "was" price some 10-45 % above its price (ending in .99). From the id,
    not drawn from the product's generator, so adding it left every other seeded value as it was."""
    if ord(offer_id[-1]) % 6:
        return None
    markup = (10, 15, 20, 25, 30, 35)[ord(offer_id[-2]) % 6]
    return (price * (100 + markup) // 100) // 100 * 100 + 99


Draw = Callable[[], float]
T = TypeVar("T")


def _one(draw: Draw, values: Sequence[T]) -> T:
    return values[int(draw() * len(values))]


def _distinct(draw: Draw, values: Sequence[T], count: int) -> list[T]:
    """`count` different values, in the order drawn (rejection sampling: count is small)."""
    picked: list[int] = []
    count = min(count, len(values))
    while len(picked) < count:
        position = int(draw() * len(values))
        if position not in picked:
            picked.append(position)
    return [values[p] for p in picked]


def _attributes(draw: Draw, dept: Department, brand: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {key: _one(draw, values) for key, values in dept.attributes.items()}
    if dept.tax_category == "books":
        attributes["pages"] = 48 + int(draw() * 850)
    elif dept.tax_category == "clothing":
        attributes["style"] = f"{brand[:2].upper()}{1000 + int(draw() * 9000)}"
    elif dept.tax_category != "food":
        attributes["model"] = f"{brand[:2].upper()}-{100 + int(draw() * 9900)}"
    return attributes


def _condition(draw: float) -> tuple[str, float, float]:
    """The condition and the price range it sells at, relative to new."""
    if draw < 0.84:
        return "new", 0.93, 1.12
    if draw < 0.94:
        return "refurbished", 0.72, 0.88
    return "used", 0.5, 0.75


def _retail_price(draw: Draw, cents: float) -> int:
    dollars = max(1, round(cents / 100))
    ending = draw()
    return dollars * 100 - 1 if ending < 0.7 else dollars * 100 - 5 if ending < 0.85 else dollars * 100


def _shipping(draw: Draw, price: int, weight: int) -> int:
    if draw() < (0.55 if price >= 3500 else 0.2):
        return 0
    heavy = 1500 if weight > 10_000 else 500 if weight > 3000 else 0
    return _one(draw, (299, 399, 499, 599, 799)) + heavy


def _stock(draw: Draw) -> int:
    """Mostly well stocked; some offers sold out or nearly, so availability badges show up."""
    level = draw()
    if level < 0.08:
        return 0
    if level < 0.2:
        return 1 + int(draw() * 5)
    return 6 + int(draw() * 195)


def _slugify(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else " " for ch in name.lower().replace("'", "").replace("&", " and "))
    return "-".join(cleaned.split())


@dataclass(frozen=True)
class CategorySpec:
    id: str
    slug: str
    name: str
    parent_slug: str | None
    depth: int
    position: int
    department: int
    sub: Sub | None = None
    nouns: tuple[str, ...] = ()


def category_tree() -> list[CategorySpec]:
    """Every category (departments, subcategories, leaves), parents first, with seed-independent ids."""
    rng = random.Random("bazaar:categories")
    specs: list[CategorySpec] = []
    slugs: set[str] = set()

    def add(name: str, parent: CategorySpec | None, position: int, dept: int, **leaf: Any) -> CategorySpec:
        slug = _slugify(name)
        if slug in slugs and parent is not None:  # the same name under two parents
            slug = f"{parent.slug}-{slug}"
        slugs.add(slug)
        spec = CategorySpec(
            seeded_id(rng, ACCOUNTS_MS + len(specs)),
            slug,
            name,
            parent.slug if parent else None,
            parent.depth + 1 if parent else 0,
            position,
            dept,
            **leaf,
        )
        specs.append(spec)
        return spec

    for d_pos, dept in enumerate(DEPARTMENTS):
        root = add(dept.name, None, d_pos, d_pos)
        for s_pos, sub in enumerate(dept.subs):
            middle = add(sub.name, root, s_pos, d_pos)
            for l_pos, (leaf, nouns) in enumerate(sub.leaves.items()):
                add(leaf, middle, l_pos, d_pos, sub=sub, nouns=nouns)
    return specs


def _dialect_insert(conn: AsyncConnection, model: Any) -> Any:
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return maker(model).on_conflict_do_nothing()


async def _ensure_categories(db: Database) -> tuple[int, list[Leaf]]:
    """Insert the categories that are missing; return how many, and the leaves with their stored ids."""
    specs = category_tree()
    async with db.engine.begin() as conn:
        stored = {
            r.slug: (r.id, r.path)
            for r in await conn.execute(
                select(Category.slug, Category.id, Category.path).where(Category.slug.in_([s.slug for s in specs]))
            )
        }
        placed: dict[str, tuple[str, str]] = {}  # slug -> (id, path) as stored after this run
        missing: list[dict[str, Any]] = []
        for spec in specs:
            if spec.slug in stored:  # keep what is there; children hang under the stored id and path
                placed[spec.slug] = stored[spec.slug]
                continue
            parent = placed[spec.parent_slug] if spec.parent_slug else None
            path = f"{parent[1] if parent else '/'}{spec.id}/"
            missing.append(
                {
                    "id": spec.id,
                    "parent_id": parent[0] if parent else None,
                    "slug": spec.slug,
                    "name": spec.name,
                    "path": path,
                    "depth": spec.depth,
                    "position": spec.position,
                }
            )
            placed[spec.slug] = (spec.id, path)
        if missing:
            await conn.execute(_dialect_insert(conn, Category), missing)
    brands = brand_names()
    by_department = [tuple(brands[d :: len(DEPARTMENTS)]) for d in range(len(DEPARTMENTS))]  # a brand, a department
    leaves = [
        Leaf(
            placed[s.slug][0],
            s.slug,
            s.name,
            DEPARTMENTS[s.department],
            s.sub,
            s.nouns,
            by_department[s.department],
            _features_by_noun(s.sub, s.nouns),
        )
        for s in specs
        if s.sub is not None
    ]
    return len(missing), leaves


def _features_by_noun(sub: Sub, nouns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    fitting = {noun: tuple(f for f in sub.features if f.lower() not in noun.lower()) for noun in nouns}
    return {noun: features or sub.features for noun, features in fitting.items()}


def account_rows(sellers: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo buyer, one user per seller and the sellers; ids depend on the seller's number only."""
    buyer_rng = random.Random("bazaar:buyer")
    users = [
        {
            "id": seeded_id(buyer_rng, ACCOUNTS_MS),
            "email": BUYER_EMAIL,
            "name": "Demo Buyer",
            "is_admin": False,
            "created_at": _stamp_datetime(ACCOUNTS_MS),
        }
    ]
    seller_rows = []
    for number in range(sellers):
        rng = random.Random(f"bazaar:seller:{number}")
        at = ACCOUNTS_MS + (number + 1) * 60_000
        user_id, seller_id, name = seeded_id(rng, at), seeded_id(rng, at), seller_name(number)
        email = SELLER_EMAIL if number == 0 else f"seller{number:04d}@example.com"
        users.append(
            {"id": user_id, "email": email, "name": name, "is_admin": False, "created_at": _stamp_datetime(at)}
        )
        seller_rows.append(
            {
                "id": seller_id,
                "user_id": user_id,
                "display_name": name,
                "rating_average": round(min(5.0, max(2.5, rng.gauss(4.5, 0.35))), 2),
                "rating_count": min(50_000, int(rng.paretovariate(0.9) * 25)),
                "created_at": _stamp_datetime(at),
            }
        )
    return users, seller_rows


async def _ensure_accounts(db: Database, settings: Settings, sellers: int) -> tuple[int, int, list[str]]:
    """Insert the missing demo users and sellers; return how many of each, and every seller id in order."""
    users, seller_rows = account_rows(sellers)
    async with db.read_engine.connect() as conn:
        have_users = set(await conn.scalars(select(User.id).where(User.id.in_([u["id"] for u in users]))))
        have_sellers = set(await conn.scalars(select(Seller.id).where(Seller.id.in_([s["id"] for s in seller_rows]))))
    new_users = [u for u in users if u["id"] not in have_users]
    new_sellers = [s for s in seller_rows if s["id"] not in have_sellers]
    if new_users:
        # One hash for every demo account: Argon2 is slow on purpose, and they share the demo password.
        password_hash = await Passwords(settings.password_hash_profile).hash(DEMO_PASSWORD)
        new_users = [{**u, "password_hash": password_hash} for u in new_users]
    async with db.engine.begin() as conn:
        if new_users:
            await conn.execute(_dialect_insert(conn, User), new_users)
            present = set(await conn.scalars(select(User.id).where(User.id.in_([s["user_id"] for s in new_sellers]))))
            taken = [u["email"] for u in new_users if u["id"] not in present and u["email"] != BUYER_EMAIL]
            if taken:
                raise RuntimeError(f"cannot seed: {taken[0]} already belongs to an account the seed did not create")
        if new_sellers:
            await conn.execute(_dialect_insert(conn, Seller), new_sellers)
    return len(new_users), len(new_sellers), [s["id"] for s in seller_rows]


class _SqliteSink:
    """Writes a chunk with one executemany per table, inside one write transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = {
            name: str(insert(table(name, *map(column, cols))).compile(dialect=db.engine.dialect))
            for name, cols in COLUMNS.items()
        }

    async def write(self, chunk: Chunk) -> None:
        async with self.db.engine.begin() as conn:
            for name, rows in chunk.tables():
                if rows:
                    await conn.exec_driver_sql(self.sql[name], rows)


class _PostgresSink:
    """Writes a chunk with binary COPY per table, inside one transaction on the raw asyncpg connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def write(self, chunk: Chunk) -> None:
        async with self.db.engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            async with raw.transaction():
                # A chunk lost in a crash is simply seeded again by the next run: no need to wait for the flush.
                await raw.execute("SET LOCAL synchronous_commit = off")
                for name, rows in chunk.tables():
                    if rows:
                        await raw.copy_records_to_table(name, records=rows, columns=COLUMNS[name])


@dataclass
class _Loaded:
    products: int = 0
    skus: int = 0
    offers: int = 0
    brands: set[str] = field(default_factory=set)

    def add(self, chunk: Chunk) -> None:
        self.products += len(chunk.products)
        self.skus += len(chunk.skus)
        self.offers += len(chunk.offers)
        self.brands |= chunk.brands


async def _count_products(db: Database) -> int:
    async with db.read_engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Product))).scalar_one())


async def _missing(db: Database, gen: Generator, indices: Sequence[int]) -> list[int]:
    """The indices whose products are not stored yet."""
    ids = {gen.product_id(index): index for index in indices}
    if not ids:
        return []
    # Ids grow with the index, so one range scan finds the chunk's products (and other seeds' neighbours,
    # which the set difference drops): far cheaper than thousands of bound parameters.
    async with db.read_engine.connect() as conn:
        found = set(await conn.scalars(select(Product.id).where(Product.id.between(min(ids), max(ids)))))
    return [index for product_id, index in ids.items() if product_id not in found]


async def _load_products(db: Database, gen: Generator, total: int, progress: bool) -> _Loaded:
    """Generate the next chunk in a thread while earlier chunks are written (on PostgreSQL, several at once)."""
    sink = _PostgresSink(db) if db.dialect == "postgresql" else _SqliteSink(db)
    # PostgreSQL checks foreign keys row by row, so its side is the bottleneck: keep a backend per spare core
    # busy. SQLite has one writer anyway.
    writers = asyncio.Semaphore(max(2, min(4, (os.cpu_count() or 2) - 1)) if db.dialect == "postgresql" else 1)
    check = await _count_products(db) > 0  # an empty table needs no "already there?" lookups
    loaded = _Loaded()

    async def write(chunk: Chunk, span: int) -> None:
        try:
            if chunk.products:
                await sink.write(chunk)
                loaded.add(chunk)
            bar.update(span)
        finally:
            writers.release()

    with tqdm(total=total, unit=" products", unit_scale=True, disable=not progress, desc="seeding") as bar:
        async with asyncio.TaskGroup() as group:
            for start in range(0, total, CHUNK):
                span = range(start, min(total, start + CHUNK))
                todo = await _missing(db, gen, span) if check else span
                chunk = await asyncio.to_thread(gen.build, todo)
                await writers.acquire()
                group.create_task(write(chunk, len(span)))
    return loaded


async def seed_catalog(
    settings: Settings, *, products: int, sellers: int | None = None, seed: int = 42, progress: bool = False
) -> SeedResult:
    """Load (or complete) the demo catalog: categories, demo accounts, sellers and `products` products."""
    started = time.perf_counter()
    seller_count = max(1, sellers if sellers is not None else default_sellers(products))
    db = create_database(settings)
    try:
        categories, leaves = await _ensure_categories(db)
        users, new_sellers, seller_ids = await _ensure_accounts(db, settings, seller_count)
        gen = Generator(seed=seed, leaves=leaves, seller_ids=seller_ids, postgres=db.dialect == "postgresql")
        loaded = await _load_products(db, gen, max(0, products), progress)
        total = await _count_products(db)
    finally:
        await db.dispose()
    return SeedResult(
        backend=db.dialect,
        categories=categories,
        brands=len(loaded.brands),
        sellers=new_sellers,
        users=users,
        products=loaded.products,
        skus=loaded.skus,
        offers=loaded.offers,
        products_total=total,
        seconds=time.perf_counter() - started,
    )


async def seed_if_empty(settings: Settings, *, products: int) -> SeedResult | None:
    """Seed the demo catalog on a first start, when there are no products at all; otherwise do nothing."""
    db = create_database(settings)
    try:
        if await _count_products(db) > 0:
            return None
    finally:
        await db.dispose()
    return await seed_catalog(settings, products=products)
