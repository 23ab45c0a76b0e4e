"""`bazaar seed`: a deterministic, idempotent demo catalog, bulk-loaded by executemany (SQLite) or COPY (PostgreSQL).

Every product is generated from its own random stream (seed and index, see `generator`), so a run
can skip the products that already exist and still produce exactly what a fresh run would.
Categories and sellers do not depend on the seed, so catalogs from several seeds can share one database.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import column, func, insert, select, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from tqdm import tqdm

from bazaar.accounts.models import Seller, User
from bazaar.accounts.passwords import Passwords
from bazaar.adapters.media_store import FilesystemMediaStore
from bazaar.catalog.models import Category, Product
from bazaar.db.engine import Database, create_database
from bazaar.kernel.ids import seeded_id
from bazaar.seed.data import DEPARTMENTS, Sub, brand_names, seller_name
from bazaar.seed.generator import ACCOUNTS_MS, COLUMNS, Chunk, Generator, Leaf, stamp_datetime
from bazaar.seed.pictures import draw_missing_pictures
from bazaar.settings import Settings

DEMO_PASSWORD = "bazaar-demo"
BUYER_EMAIL = "buyer@example.com"
_SEED_LOCK = 0x62617A7364  # first-start seeding, one node at a time
SELLER_EMAIL = "seller@example.com"
ADMIN_EMAIL = "admin@example.com"  # the demo operator (role admin)
CHUNK = 5000  # products generated and written per transaction
DEFAULT_PICTURES = 2000  # products given a drawn picture by one run (a picture costs ~12 ms)


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
    pictures: int = 0
    picture_seconds: float = 0.0

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
        if self.pictures:
            head += f"\nDrew {self.pictures:,} product pictures in {self.picture_seconds:.1f} s."
        logins = (
            f"{BUYER_EMAIL} / {DEMO_PASSWORD} (buyer), {SELLER_EMAIL} / {DEMO_PASSWORD} (seller), "
            f"{ADMIN_EMAIL} / {DEMO_PASSWORD} (operator)"
        )
        return f"{head}\nDemo logins: {logins}."


def default_sellers(products: int) -> int:
    """Enough sellers that offers spread out, few enough that each has a real shop."""
    return min(2000, max(20, products // 200))


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
            "created_at": stamp_datetime(ACCOUNTS_MS),
        },
        {
            "id": seeded_id(random.Random("bazaar:admin"), ACCOUNTS_MS),
            "email": ADMIN_EMAIL,
            "name": "Demo Operator",
            "is_admin": True,
            "created_at": stamp_datetime(ACCOUNTS_MS),
        },
    ]
    seller_rows = []
    for number in range(sellers):
        rng = random.Random(f"bazaar:seller:{number}")
        at = ACCOUNTS_MS + (number + 1) * 60_000
        user_id, seller_id, name = seeded_id(rng, at), seeded_id(rng, at), seller_name(number)
        email = SELLER_EMAIL if number == 0 else f"seller{number:04d}@example.com"
        users.append({"id": user_id, "email": email, "name": name, "is_admin": False, "created_at": stamp_datetime(at)})
        seller_rows.append(
            {
                "id": seller_id,
                "user_id": user_id,
                "display_name": name,
                "rating_average": round(min(5.0, max(2.5, rng.gauss(4.5, 0.35))), 2),
                "rating_count": min(50_000, int(rng.paretovariate(0.9) * 25)),
                "created_at": stamp_datetime(at),
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
            demo = (BUYER_EMAIL, ADMIN_EMAIL)
            taken = [u["email"] for u in new_users if u["id"] not in present and u["email"] not in demo]
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
    settings: Settings,
    *,
    products: int,
    sellers: int | None = None,
    seed: int = 42,
    progress: bool = False,
    pictures: int = DEFAULT_PICTURES,
) -> SeedResult:
    """Load (or complete) the demo catalog: categories, demo accounts, sellers and `products` products, and
    draw a picture for up to `pictures` products that have none (about 12 ms each)."""
    started = time.perf_counter()
    seller_count = max(1, sellers if sellers is not None else default_sellers(products))
    db = create_database(settings)
    try:
        categories, leaves = await _ensure_categories(db)
        users, new_sellers, seller_ids = await _ensure_accounts(db, settings, seller_count)
        gen = Generator(seed=seed, leaves=leaves, seller_ids=seller_ids, postgres=db.dialect == "postgresql")
        loaded = await _load_products(db, gen, max(0, products), progress)
        total = await _count_products(db)
        loading = time.perf_counter() - started  # the catalog's own load time, pictures reported apart
        store = FilesystemMediaStore(settings.resolved_media_dir)
        drawn, drawing = await draw_missing_pictures(db, store, limit=max(0, pictures))
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
        seconds=loading,
        pictures=drawn,
        picture_seconds=drawing,
    )


async def seed_if_empty(settings: Settings, *, products: int) -> SeedResult | None:
    """Seed the demo catalog on a first start, when there are no products at all; otherwise do nothing.
    On PostgreSQL the nodes of a cluster starting together take turns: the first seeds, the rest find products."""
    db = create_database(settings)
    try:
        async with db.engine.connect() as lock:
            if db.dialect == "postgresql":
                await lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _SEED_LOCK})
            try:
                if await _count_products(db) > 0:
                    return None
                return await seed_catalog(settings, products=products, pictures=products)
            finally:
                if db.dialect == "postgresql":
                    await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SEED_LOCK})
    finally:
        await db.dispose()
