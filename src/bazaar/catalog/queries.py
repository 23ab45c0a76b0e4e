"""Catalog read queries used by pages and the API: the category tree, product pages, sellers' listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Row, bindparam, func, select

from bazaar.accounts.models import Seller
from bazaar.catalog.buybox import best_offer, offer_rank
from bazaar.catalog.errors import ProductNotFound
from bazaar.catalog.models import Category, Offer, Product, Sku
from bazaar.catalog.schemas import (
    CategoryNode,
    CategoryRef,
    ImageUrls,
    MoneyModel,
    OfferPage,
    OfferRead,
    ProductImageRead,
    ProductPage,
    ProductSummary,
    RatingSummary,
    SaleRead,
    SellerOfferRead,
    SellerRef,
    SkuRead,
)
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.models import StockBucket
from bazaar.inventory.stock import StockLevel, availability_label, stock_levels


async def count_products(*, uow: UnitOfWork) -> int:
    return int((await uow.session.execute(select(func.count()).select_from(Product))).scalar_one())


async def root_categories(*, uow: UnitOfWork) -> list[dict[str, str]]:
    rows = await uow.session.execute(
        select(Category.id, Category.slug, Category.name)
        .where(Category.parent_id.is_(None))
        .order_by(Category.position)
    )
    return [{"id": r.id, "slug": r.slug, "name": r.name} for r in rows]


async def category_tree(*, uow: UnitOfWork) -> list[CategoryNode]:
    rows = (
        await uow.session.execute(select(Category).order_by(Category.depth, Category.position, Category.name))
    ).scalars()
    nodes: dict[str, CategoryNode] = {}
    roots: list[CategoryNode] = []
    for row in rows:
        node = CategoryNode(id=row.id, slug=row.slug, name=row.name)
        nodes[row.id] = node
        parent = nodes.get(row.parent_id) if row.parent_id else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def offer_read(offer: Offer, seller: Seller, level: StockLevel) -> OfferRead:
    return _offer(
        offer.id,
        offer.sku_id,
        offer.product_id,
        seller=(seller.id, seller.display_name, seller.rating_average),
        amounts=(offer.price_amount, offer.shipping_amount, offer.list_price_amount, offer.currency),
        condition=offer.condition,
        available=level.available,
        sale=(
            offer.sale_price_amount,
            offer.sale_starts_at,
            offer.sale_ends_at,
            offer.sale_state,
            offer.regular_price_amount,
        ),  # fmt: skip
    )


SaleColumns = tuple[int | None, datetime | None, datetime | None, str | None, int | None]


def _sale(sale: SaleColumns | None, currency: str) -> SaleRead | None:
    if sale is None:
        return None
    price, starts, ends, state, regular = sale
    if price is None or starts is None or ends is None or state not in ("scheduled", "live"):
        return None
    live = state == "live"
    return SaleRead(
        price=MoneyModel.of(price, currency),
        starts_at=starts,
        ends_at=ends,
        live=live,
        regular_price=MoneyModel.of(regular, currency) if live and regular is not None else None,
    )


def _offer(
    offer_id: str,
    sku_id: str,
    product_id: str,
    *,
    seller: tuple[str, str, float],
    amounts: tuple[int, int, int | None, str],
    condition: str,
    available: int,
    sale: SaleColumns | None = None,
) -> OfferRead:
    """An offer as shown to buyers; `seller` is (id, name, rating), `amounts` (price, shipping, was, currency)."""
    seller_id, seller_name, seller_rating = seller
    price, shipping, was, currency = amounts
    return OfferRead(
        id=offer_id,
        sku_id=sku_id,
        product_id=product_id,
        seller=SellerRef(id=seller_id, display_name=seller_name, rating=round(seller_rating, 2)),
        price=MoneyModel.of(price, currency),
        shipping_price=MoneyModel.of(shipping, currency),
        total_price=MoneyModel.of(price + shipping, currency),
        condition=condition,
        availability=availability_label(available),
        available_quantity=available,
        list_price=MoneyModel.of(was, currency) if was and was > price else None,
        sale=_sale(sale, currency),
    )


def seller_offer_read(offer: Offer, seller: Seller, level: StockLevel) -> SellerOfferRead:
    base = offer_read(offer, seller, level)
    return SellerOfferRead(
        **base.model_dump(), quantity=level.on_hand, created_at=offer.created_at, updated_at=offer.updated_at
    )


_PRODUCT_ID: BindParameter[str] = bindparam("product_id")
# The product page in three statements on the unit of work's connection, as plain rows: the ORM's
# entity loading cost twice as much, and a page is re-read every few seconds by every web process
# while it is hot (the background refresh, on the event loop that is serving the page).
_PAGE_PRODUCT = (
    select(
        Product.id,
        Product.title,
        Product.description,
        Product.brand,
        Product.attributes,
        Product.rating_average,
        Product.rating_count,
        Product.rating_histogram,
        Product.images,
        Product.created_at,
        Category.id.label("category_id"),
        Category.slug.label("category_slug"),
        Category.name.label("category_name"),
    )
    .join(Category, Category.id == Product.category_id)
    .where(Product.id == _PRODUCT_ID, Product.status == "active")
)
_PAGE_SKUS = select(Sku.id, Sku.attributes, Sku.gtin).where(Sku.product_id == _PRODUCT_ID).order_by(Sku.id)
_OFFER_AVAILABLE = (
    select(func.sum(StockBucket.available)).where(StockBucket.offer_id == Offer.id).correlate(Offer).scalar_subquery()
)
_PAGE_OFFERS = (
    select(
        Offer.id,
        Offer.sku_id,
        Offer.price_amount,
        Offer.shipping_amount,
        Offer.list_price_amount,
        Offer.currency,
        Offer.condition,
        Offer.sale_price_amount,
        Offer.sale_starts_at,
        Offer.sale_ends_at,
        Offer.sale_state,
        Offer.regular_price_amount,
        Seller.id.label("seller_id"),
        Seller.display_name.label("seller_name"),
        Seller.rating_average.label("seller_rating"),
        _OFFER_AVAILABLE.label("available"),
    )
    .join(Seller, Seller.id == Offer.seller_id)
    .where(Offer.product_id == _PRODUCT_ID, Offer.status == "active")
)


def _page_offer(row: Row[*tuple[Any, ...]], product_id: str) -> OfferRead:
    return _offer(
        row.id,
        row.sku_id,
        product_id,
        seller=(row.seller_id, row.seller_name, row.seller_rating),
        amounts=(row.price_amount, row.shipping_amount, row.list_price_amount, row.currency),
        condition=row.condition,
        available=int(row.available or 0),
        sale=(row.sale_price_amount, row.sale_starts_at, row.sale_ends_at, row.sale_state, row.regular_price_amount),
    )


async def product_page(*, uow: UnitOfWork, product_id: str) -> ProductPage:
    """Everything a product page shows, read fresh from the database (the page cache sits in front)."""
    session = uow.session
    if session.new or session.dirty or session.deleted:  # what this unit of work wrote must show
        await session.flush()
    conn = await session.connection()
    params = {"product_id": product_id}
    product = (await conn.execute(_PAGE_PRODUCT, params)).first()
    if product is None:
        raise ProductNotFound(product_id=product_id)
    skus = (await conn.execute(_PAGE_SKUS, params)).all()
    offers = sorted((_page_offer(row, product_id) for row in await conn.execute(_PAGE_OFFERS, params)), key=offer_rank)
    return ProductPage(
        id=product.id,
        title=product.title,
        description=product.description,
        brand=product.brand,
        category=CategoryRef(id=product.category_id, slug=product.category_slug, name=product.category_name),
        attributes=product.attributes or {},
        rating=rating_summary(product.rating_average, product.rating_count, product.rating_histogram),
        images=[ProductImageRead.model_validate(image) for image in product.images or []],
        skus=[SkuRead(id=s.id, product_id=product_id, attributes=s.attributes or {}, gtin=s.gtin) for s in skus],
        offers=offers,
        best_offer=best_offer(offers),
        created_at=product.created_at,
    )


def rating_summary(average: float, count: int, histogram: dict[str, int] | None) -> RatingSummary:
    counts = {str(n): int((histogram or {}).get(str(n), 0)) for n in range(1, 6)}
    return RatingSummary(average=round(average, 2), count=count, histogram=counts)


def first_image(images: list[dict[str, Any]] | None) -> ImageUrls | None:
    return ImageUrls.model_validate(images[0]["urls"]) if images else None


async def seller_offers(*, uow: UnitOfWork, seller_id: str, page: int, per_page: int) -> OfferPage:
    """A seller's own listings, newest first."""
    total = int((await uow.session.execute(select(func.count()).where(Offer.seller_id == seller_id))).scalar_one())
    rows = await uow.session.execute(
        select(Offer, Seller)
        .join(Seller, Seller.id == Offer.seller_id)
        .where(Offer.seller_id == seller_id)
        .order_by(Offer.created_at.desc(), Offer.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    pairs = [(offer, seller) for offer, seller in rows]
    levels = await stock_levels(uow=uow, offer_ids=[o.id for o, _ in pairs])
    items = [seller_offer_read(o, s, levels[o.id]) for o, s in pairs]
    return OfferPage(items=items, total=total, page=page, per_page=per_page)


async def deals(*, uow: UnitOfWork, limit: int = 8) -> list[dict[str, object]]:
    """The newest in-stock offers shown below a "was" price, one per product (served by a partial index)."""
    rows = await uow.session.execute(
        select(Offer, Product.title, Product.brand, Product.images)
        .join(Product, Product.id == Offer.product_id)
        .where(
            Offer.list_price_amount.is_not(None),
            Offer.list_price_amount > Offer.price_amount,
            Offer.status == "active",
            Offer.id.in_(select(StockBucket.offer_id).where(StockBucket.available > 0)),
        )
        .order_by(Offer.created_at.desc())
        .limit(limit * 4)
    )
    seen: set[str] = set()
    found: list[dict[str, object]] = []
    for offer, title, brand, images in rows:
        if offer.product_id in seen or len(found) >= limit:
            continue
        seen.add(offer.product_id)
        listed = offer.list_price_amount or 0
        found.append(
            {
                "product_id": offer.product_id,
                "title": title,
                "brand": brand,
                "price": MoneyModel.of(offer.price_amount, offer.currency),
                "list_price": MoneyModel.of(listed, offer.currency),
                "percent_off": round(100 * (listed - offer.price_amount) / listed),
                "image": first_image(images),
            }
        )
    return found


async def product_summaries(*, uow: UnitOfWork, product_ids: list[str]) -> dict[str, ProductSummary]:
    """Title, stock and lowest in-stock price of each product, read fresh (unknown ids are left out)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    products = await uow.session.execute(
        select(Product.id, Product.title, Product.brand, Product.images).where(Product.id.in_(ids))
    )
    offers = await uow.session.execute(
        select(Offer.product_id, Offer.price_amount, Offer.currency, _OFFER_AVAILABLE.label("available")).where(
            Offer.product_id.in_(ids), Offer.status == "active"
        )
    )
    lowest: dict[str, tuple[int, str]] = {}
    for product_id, price, currency, available in offers:
        if int(available or 0) > 0 and (product_id not in lowest or price < lowest[product_id][0]):
            lowest[product_id] = (price, currency)
    out: dict[str, ProductSummary] = {}
    for product_id, title, brand, images in products:
        price = lowest.get(product_id)
        out[product_id] = ProductSummary(
            id=product_id,
            title=title,
            brand=brand,
            in_stock=price is not None,
            price_from=MoneyModel.of(*price) if price else None,
            image=first_image(images),
        )
    return out


@dataclass(frozen=True)
class OfferFacts:
    """What other contexts need to know of an offer: whose it is, its product, price and status."""

    id: str
    product_id: str
    seller_id: str
    title: str
    price_amount: int
    currency: str
    active: bool


async def offer_facts(*, uow: UnitOfWork, offer_ids: list[str]) -> dict[str, OfferFacts]:
    """The offers among `offer_ids` that exist (unknown ids are left out)."""
    ids = sorted(set(offer_ids))
    if not ids:
        return {}
    rows = await uow.session.execute(
        select(
            Offer.id, Offer.product_id, Offer.seller_id, Product.title, Offer.price_amount, Offer.currency, Offer.status
        )
        .join(Product, Product.id == Offer.product_id)
        .where(Offer.id.in_(ids))
    )
    return {
        r.id: OfferFacts(r.id, r.product_id, r.seller_id, r.title, r.price_amount, r.currency, r.status == "active")
        for r in rows
    }


async def product_category_id(*, uow: UnitOfWork, product_id: str) -> str:
    """The product's own category; ProductNotFound if there is no such product."""
    category = await uow.session.scalar(select(Product.category_id).where(Product.id == product_id))
    if category is None:
        raise ProductNotFound(product_id=product_id)
    return str(category)


# Built once: the ledger reads the categories of a captured order's products (commission rates are per category).
_CATEGORY_CHAINS = Prepared.listing(
    lambda one_of: (
        select(Product.id, Category.id.label("category_id"), Category.path)
        .join(Category, Category.id == Product.category_id)
        .where(one_of(Product.id, "products"))
    )
)


async def category_chains(*, uow: UnitOfWork, product_ids: list[str]) -> dict[str, list[str]]:
    """Per product, its category and that category's ancestors, nearest first (for rates set per category)."""
    if not product_ids:
        return {}
    rows = await uow.fetch(_CATEGORY_CHAINS, {"products": sorted(set(product_ids))})
    chains: dict[str, list[str]] = {}
    for product_id, category_id, path in rows:
        ancestors = [part for part in (path or "").split("/") if part]
        chain = list(reversed(ancestors)) if ancestors else []
        if category_id not in chain:
            chain.insert(0, category_id)
        chains[product_id] = chain
    return chains


async def category_names(*, uow: UnitOfWork, category_ids: list[str]) -> dict[str, str]:
    if not category_ids:
        return {}
    rows = await uow.session.execute(select(Category.id, Category.name).where(Category.id.in_(category_ids)))
    return {r.id: r.name for r in rows}


async def operator_products(
    *, uow: UnitOfWork, status: str | None, q: str | None, page: int, per_page: int
) -> tuple[list[dict[str, object]], int]:
    """Products for the operator's console: by status (`active`, `taken_down`) and/or id or words of the title."""
    where = []
    if status:
        where.append(Product.status == status)
    if q:
        where.append((Product.id == q.strip()) | Product.title.ilike(f"%{q.strip()[:100]}%"))
    total = int((await uow.session.execute(select(func.count()).select_from(Product).where(*where))).scalar_one())
    rows = await uow.session.execute(
        select(Product.id, Product.title, Product.brand, Product.status, Product.created_by_seller_id)
        .where(*where)
        .order_by(Product.updated_at.desc(), Product.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return [dict(r._mapping) for r in rows], total
