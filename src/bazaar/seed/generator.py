"""The demo catalog's rows: every product, its SKUs, offers and stock generated from (seed, index) alone.

Product `i` is built from its own random stream, so any subset of products can be generated (and
skipped when already present) with exactly what a full run would write. `loader` writes the rows.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from bazaar.seed.data import Department, Sub
from bazaar.seed.reviews import seeded_reviews

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
        "rating_histogram",
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
    "reviews": (
        "id",
        "product_id",
        "author_id",
        "author_name",
        "rating",
        "title",
        "body",
        "verified",
        "status",
        "hidden_reason",
        "created_at",
        "updated_at",
    ),
}


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
    reviews: list[tuple[Any, ...]] = field(default_factory=list)
    brands: set[str] = field(default_factory=set)

    def tables(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        # Parents before children, for the foreign keys.
        return [
            ("products", self.products),
            ("skus", self.skus),
            ("offers", self.offers),
            ("stock_buckets", self.stock_buckets),
            ("reviews", self.reviews),
        ]


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


def stamp_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _stamp_sqlite(ms: int) -> str:
    # The text SQLAlchemy itself stores for a DateTime on SQLite, so the ORM reads these back unchanged.
    dt = stamp_datetime(ms)
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
        self.stamp = stamp_datetime if postgres else _stamp_sqlite

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
        reviews, rating, rating_count, histogram = seeded_reviews(
            product_id, id_time, rating, rating_count, created, self.stamp, noun, _id_random
        )
        chunk.reviews.extend(reviews)
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
                _json(histogram),
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
    elif dept.tax_category != "grocery":
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
