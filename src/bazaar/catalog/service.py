"""Catalog use cases: sellers create products (with SKUs) and offers, and change an offer's price or stock."""

from __future__ import annotations

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError

from bazaar.accounts.models import Seller
from bazaar.accounts.standing import ensure_seller_active
from bazaar.catalog import queries, sales
from bazaar.catalog.errors import (
    GtinTaken,
    InvalidListPrice,
    OfferExists,
    ProductNotFound,
    UnknownCategory,
    UnknownSku,
)
from bazaar.catalog.events import OfferCreated, OfferUpdated, ProductCreated, ProductUpdated
from bazaar.catalog.models import Category, Offer, Product, Sku
from bazaar.catalog.schemas import (
    MoneyModel,
    OfferCreate,
    OfferUpdate,
    ProductCreate,
    ProductImageRead,
    ProductPage,
    SellerOfferRead,
)
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.errors import OfferNotFound
from bazaar.inventory.stock import initialize_stock, set_on_hand, stock_levels
from bazaar.kernel.clock import utcnow
from bazaar.kernel.money import check_amount


async def create_product(*, uow: UnitOfWork, seller_id: str, data: ProductCreate) -> ProductPage:
    """A seller adds a product and its SKUs; it has no offers until someone lists one."""
    product = await _add_product(uow=uow, seller_id=seller_id, data=data)
    page = await queries.product_page(uow=uow, product_id=product.id)
    await uow.commit()
    return page


async def list_product(*, uow: UnitOfWork, seller_id: str, product: ProductCreate, offer: OfferCreate) -> ProductPage:
    """A seller adds a product with one SKU and their offer for it, all or nothing (the storefront's form);
    `offer.sku_id` is ignored: the offer is for the new SKU."""
    added = await _add_product(uow=uow, seller_id=seller_id, data=product)
    sku_id = (await uow.session.execute(select(Sku.id).where(Sku.product_id == added.id))).scalars().first()
    assert sku_id is not None
    await _add_offer(uow=uow, seller_id=seller_id, data=offer.model_copy(update={"sku_id": sku_id}))
    page = await queries.product_page(uow=uow, product_id=added.id)
    await uow.commit()
    return page


async def _add_product(*, uow: UnitOfWork, seller_id: str, data: ProductCreate) -> Product:
    await ensure_seller_active(uow=uow, seller_id=seller_id)
    if await uow.session.get(Category, data.category_id) is None:
        raise UnknownCategory(category_id=data.category_id)
    gtins = [s.gtin for s in data.skus if s.gtin]
    if len(gtins) != len(set(gtins)):
        raise GtinTaken("two SKUs in the request have the same GTIN")
    if gtins and (await uow.session.execute(select(Sku.gtin).where(Sku.gtin.in_(gtins)))).first():
        raise GtinTaken(gtins=gtins)
    product = Product(
        title=data.title,
        description=data.description,
        brand=data.brand,
        category_id=data.category_id,
        attributes=data.attributes,
        tax_category=data.tax_category,
        created_by_seller_id=seller_id,
    )
    uow.session.add(product)
    await uow.flush()
    for sku in data.skus:
        uow.session.add(Sku(product_id=product.id, attributes=sku.attributes, gtin=sku.gtin))
    try:
        await uow.flush()
    except IntegrityError as exc:  # a concurrent request took the GTIN
        raise GtinTaken(gtins=gtins) from exc
    uow.emit(ProductCreated(product_id=product.id, seller_id=seller_id))
    return product


async def create_offer(*, uow: UnitOfWork, seller_id: str, data: OfferCreate) -> SellerOfferRead:
    """A seller lists a SKU at a price with `quantity` units on hand."""
    offer = await _add_offer(uow=uow, seller_id=seller_id, data=data)
    result = await _seller_offer(uow, offer)
    await uow.commit()
    return result


async def _add_offer(*, uow: UnitOfWork, seller_id: str, data: OfferCreate) -> Offer:
    await ensure_seller_active(uow=uow, seller_id=seller_id)
    sku = await uow.session.get(Sku, data.sku_id)
    if sku is None:
        raise UnknownSku(sku_id=data.sku_id)
    if (await uow.session.execute(select(Product.status).where(Product.id == sku.product_id))).scalar() != "active":
        raise ProductNotFound(product_id=sku.product_id)
    duplicate = await uow.session.execute(
        select(Offer.id).where(Offer.seller_id == seller_id, Offer.sku_id == sku.id, Offer.condition == data.condition)
    )
    if (existing := duplicate.scalar()) is not None:
        raise OfferExists(offer_id=existing)
    check_amount(data.price.amount + data.shipping_price.amount, what="price with shipping")
    offer = Offer(
        sku_id=sku.id,
        product_id=sku.product_id,
        seller_id=seller_id,
        price_amount=data.price.amount,
        shipping_amount=data.shipping_price.amount,
        list_price_amount=_list_price(data.list_price, data.price.amount),
        currency=data.price.currency,
        condition=data.condition,
    )
    if data.sale is not None:
        sales.set_sale(offer, data.sale, now=utcnow())
    uow.session.add(offer)
    await uow.flush()
    await initialize_stock(uow=uow, offer_id=offer.id, product_id=sku.product_id, quantity=data.quantity)
    uow.emit(OfferCreated(offer_id=offer.id, product_id=sku.product_id, seller_id=seller_id))
    await uow.flush()
    return offer


async def update_offer(*, uow: UnitOfWork, seller_id: str, offer_id: str, data: OfferUpdate) -> SellerOfferRead:
    """Change price, shipping price and/or on-hand stock; stock may not go below what checkouts hold."""
    await ensure_seller_active(uow=uow, seller_id=seller_id)
    offer = await uow.session.get(Offer, offer_id)
    if offer is None or offer.seller_id != seller_id:
        raise OfferNotFound(offer_id=offer_id)
    priced = False
    if data.price is not None and data.price.amount != (offer.regular_price_amount or offer.price_amount):
        sales.set_regular_price(offer, data.price.amount)
        priced = True
    if "sale" in data.model_fields_set:
        sales.set_sale(offer, data.sale, now=utcnow())
        priced = True
    if data.shipping_price is not None and data.shipping_price.amount != offer.shipping_amount:
        offer.shipping_amount, priced = data.shipping_price.amount, True
    if data.list_price is not None:
        listed = _list_price(data.list_price, offer.price_amount) if data.list_price.amount else None
        if listed != offer.list_price_amount:
            offer.list_price_amount, priced = listed, True
    check_amount(offer.price_amount + offer.shipping_amount, what="price with shipping")
    if data.quantity is not None:
        await set_on_hand(uow=uow, offer_id=offer.id, product_id=offer.product_id, quantity=data.quantity)
    if priced:
        offer.updated_at = utcnow()
        uow.emit(OfferUpdated(offer_id=offer.id, product_id=offer.product_id))
    await uow.flush()
    result = await _seller_offer(uow, offer)
    await uow.commit()
    return result


async def _seller_offer(uow: UnitOfWork, offer: Offer) -> SellerOfferRead:
    seller = await uow.session.get(Seller, offer.seller_id)
    if seller is None:  # the foreign key makes this impossible; say so loudly if it ever happens
        raise ProductNotFound("the offer's seller is missing", offer_id=offer.id)
    levels = await stock_levels(uow=uow, offer_ids=[offer.id])
    return queries.seller_offer_read(offer, seller, levels[offer.id])


def _list_price(listed: MoneyModel | None, price: int) -> int | None:
    """A "was" price must be above the price, or it would advertise a discount that is not there."""
    if listed is None:
        return None
    if listed.amount <= price:
        raise InvalidListPrice(list_price=listed.amount, price=price)
    return listed.amount


async def product_owner(*, uow: UnitOfWork, product_id: str) -> str | None:
    """The seller who created the product (who may change its pictures); ProductNotFound if there is none."""
    row = (await uow.session.execute(select(Product.created_by_seller_id).where(Product.id == product_id))).first()
    if row is None:
        raise ProductNotFound(product_id=product_id)
    return row[0]


async def set_product_images(*, uow: UnitOfWork, product_id: str, images: list[ProductImageRead]) -> None:
    """The media context's images, in order, as pages and search show them; both follow through the event."""
    product = await uow.session.get(Product, product_id)
    if product is None:
        raise ProductNotFound(product_id=product_id)
    product.images = [image.model_dump() for image in images] or None
    product.image_url = images[0].urls.medium if images else None
    product.updated_at = utcnow()
    uow.emit(ProductUpdated(product_id=product_id))


async def set_product_rating(
    *, uow: UnitOfWork, product_id: str, average: float, count: int, histogram: dict[str, int]
) -> None:
    """The reviews context's summary of a product's published reviews; search and pages follow the event."""
    product = await uow.session.get(Product, product_id)
    if product is None:
        raise ProductNotFound(product_id=product_id)
    product.rating_average, product.rating_count, product.rating_histogram = round(average, 4), count, histogram
    uow.emit(ProductUpdated(product_id=product_id))


async def set_seller_offers_shown(*, uow: UnitOfWork, seller_id: str, shown: bool) -> int:
    """A suspended seller's active offers leave the shop (`suspended`); reinstated, they come back, except those
    whose product is taken down. Each touched product is announced, so search and pages follow. In the caller's
    transaction; answers how many offers changed."""
    before, after = ("suspended", "active") if shown else ("active", "suspended")
    changed = await uow.session.execute(
        update(Offer)
        .where(Offer.seller_id == seller_id, Offer.status == before)
        .values(status=after, updated_at=utcnow())
        .returning(Offer.id, Offer.product_id)
        .execution_options(synchronize_session=False)
    )
    rows = sorted(changed.all(), key=lambda r: (r.product_id, r.id))
    for offer_id, product_id in rows:
        uow.emit(OfferUpdated(offer_id=offer_id, product_id=product_id))
    return len(rows)


async def set_product_taken_down(*, uow: UnitOfWork, product_id: str, taken_down: bool) -> bool:
    """Take a product down (its page 404s, search drops it, its offers cannot be bought) or restore it; in the
    caller's transaction. Restored offers of a suspended seller stay `suspended`. Answers whether it changed."""
    before, after = ("active", "taken_down") if taken_down else ("taken_down", "active")
    changed = await uow.session.execute(
        update(Product)
        .where(Product.id == product_id, Product.status == before)
        .values(status=after, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        if await uow.session.get(Product, product_id) is None:
            raise ProductNotFound(product_id=product_id)
        return False
    if taken_down:
        await uow.session.execute(
            update(Offer)
            .where(Offer.product_id == product_id)
            .values(status="taken_down")
            .execution_options(synchronize_session=False)
        )
    else:
        suspended = select(Seller.id).where(Seller.status != "active").scalar_subquery()
        await uow.session.execute(
            update(Offer)
            .where(Offer.product_id == product_id, Offer.status == "taken_down")
            .values(status=case((Offer.seller_id.in_(suspended), "suspended"), else_="active"))
            .execution_options(synchronize_session=False)
        )
    uow.emit(ProductUpdated(product_id=product_id))
    return True


async def ensure_product(*, uow: UnitOfWork, product_id: str) -> None:
    """ProductNotFound unless the product exists and is shown (not taken down)."""
    row = (await uow.session.execute(select(Product.status).where(Product.id == product_id))).first()
    if row is None or row[0] != "active":
        raise ProductNotFound(product_id=product_id)
