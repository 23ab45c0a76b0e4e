"""Wish list use cases: wish and unwish a product, ask to be told when it is back ("notify me"), list them;
remember and list recently viewed products."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from bazaar.catalog.errors import ProductNotFound
from bazaar.catalog.queries import product_summaries
from bazaar.catalog.schemas import ProductSummary
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import Conflict
from bazaar.kernel.schemas import Page
from bazaar.wishlists.errors import NotInWishlist, WishlistFull
from bazaar.wishlists.models import ProductWatch, RecentlyViewed
from bazaar.wishlists.schemas import (
    MAX_WATCHES,
    RECENTLY_VIEWED_KEPT,
    RecentlyViewedRead,
    StockAlertRead,
    WishlistItemRead,
)


class ProductInStock(Conflict):
    """This product is in stock now; add it to your cart."""

    code = "product_in_stock"


def _item(watch: ProductWatch, product: ProductSummary) -> WishlistItemRead:
    return WishlistItemRead(
        product_id=watch.product_id,
        added_at=watch.created_at,
        product=product,
        price_when_added=watch.reference_price_amount,
        notify_when_back=watch.armed or watch.notify_once,
    )


async def _summary(uow: UnitOfWork, product_id: str) -> ProductSummary:
    found = (await product_summaries(uow=uow, product_ids=[product_id])).get(product_id)
    if found is None:
        raise ProductNotFound(product_id=product_id)
    return found


async def _watch(uow: UnitOfWork, user_id: str, product_id: str) -> ProductWatch | None:
    query = select(ProductWatch).where(ProductWatch.user_id == user_id, ProductWatch.product_id == product_id)
    if uow.is_postgres:
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def _new_watch(uow: UnitOfWork, user_id: str, product: ProductSummary) -> ProductWatch:
    count = (await uow.session.execute(select(func.count()).where(ProductWatch.user_id == user_id))).scalar_one()
    if count >= MAX_WATCHES:
        raise WishlistFull(limit=MAX_WATCHES)
    watch = ProductWatch(
        user_id=user_id,
        product_id=product.id,
        wished=False,
        notify_once=False,
        # Out of stock now: the first time it is seen back is an alert. In stock: the price shown now is the
        # one a later price drop is measured against.
        armed=not product.in_stock,
        reference_price_amount=product.price_from.amount if product.price_from else None,
        currency=product.price_from.currency if product.price_from else "USD",
        created_at=utcnow(),
    )
    uow.session.add(watch)
    return watch


async def _watch_for(uow: UnitOfWork, user_id: str, product: ProductSummary) -> ProductWatch:
    """The buyer's watch on the product, made if there is none (two requests racing to make it: one wins)."""
    watch = await _watch(uow, user_id, product.id)
    if watch is not None:
        return watch
    try:
        async with uow.savepoint():
            watch = await _new_watch(uow, user_id, product)
            await uow.flush()
    except IntegrityError:
        watch = await _watch(uow, user_id, product.id)
        if watch is None:
            raise
    return watch


async def add_to_wishlist(*, uow: UnitOfWork, user_id: str, product_id: str) -> WishlistItemRead:
    """Put a product on the wish list (adding it again changes nothing)."""
    product = await _summary(uow, product_id)
    watch = await _watch_for(uow, user_id, product)
    watch.wished = True
    await uow.flush()
    await uow.commit()
    return _item(watch, product)


async def remove_from_wishlist(*, uow: UnitOfWork, user_id: str, product_id: str) -> None:
    watch = await _watch(uow, user_id, product_id)
    if watch is None or not watch.wished:
        raise NotInWishlist(product_id=product_id)
    if watch.notify_once:
        watch.wished = False
    else:
        await uow.session.delete(watch)
    await uow.commit()


async def _watches(
    uow: UnitOfWork, user_id: str, condition: ColumnElement[bool], page: int, per_page: int
) -> tuple[int, list[ProductWatch], dict[str, ProductSummary]]:
    where = (ProductWatch.user_id == user_id, condition)
    total = (await uow.session.execute(select(func.count()).select_from(ProductWatch).where(*where))).scalar_one()
    rows = list(
        (
            await uow.session.execute(
                select(ProductWatch)
                .where(*where)
                .order_by(ProductWatch.created_at.desc(), ProductWatch.product_id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).scalars()
    )
    products = await product_summaries(uow=uow, product_ids=[w.product_id for w in rows])
    return int(total), [w for w in rows if w.product_id in products], products


async def list_wishlist(*, uow: UnitOfWork, user_id: str, page: int, per_page: int) -> Page[WishlistItemRead]:
    """Wished products, most recently added first, each with its current price and stock."""
    total, rows, products = await _watches(uow, user_id, ProductWatch.wished.is_(True), page, per_page)
    items = [_item(w, products[w.product_id]) for w in rows]
    return Page[WishlistItemRead](items=items, total=total, page=page, per_page=per_page)


async def request_stock_alert(*, uow: UnitOfWork, user_id: str, product_id: str) -> StockAlertRead:
    """ "Notify me": tell the buyer once when this out-of-stock product is back (409 if it is in stock)."""
    product = await _summary(uow, product_id)
    if product.in_stock:
        raise ProductInStock(product_id=product_id)
    watch = await _watch_for(uow, user_id, product)
    watch.notify_once = True
    watch.armed = True
    await uow.flush()
    await uow.commit()
    return StockAlertRead(product_id=product_id, requested_at=watch.created_at, product=product)


async def cancel_stock_alert(*, uow: UnitOfWork, user_id: str, product_id: str) -> None:
    watch = await _watch(uow, user_id, product_id)
    if watch is None or not watch.notify_once:
        raise NotInWishlist("you did not ask to be told about this product", code="stock_alert_not_found")
    if watch.wished:
        watch.notify_once = False
    else:
        await uow.session.delete(watch)
    await uow.commit()


async def list_stock_alerts(*, uow: UnitOfWork, user_id: str, page: int, per_page: int) -> Page[StockAlertRead]:
    total, rows, products = await _watches(uow, user_id, ProductWatch.notify_once.is_(True), page, per_page)
    items = [
        StockAlertRead(product_id=w.product_id, requested_at=w.created_at, product=products[w.product_id]) for w in rows
    ]
    return Page[StockAlertRead](items=items, total=total, page=page, per_page=per_page)


async def watched_product_ids(*, uow: UnitOfWork, user_id: str, product_ids: list[str]) -> dict[str, ProductWatch]:
    """The buyer's watches among these products (for pages that show "on your wish list")."""
    if not product_ids:
        return {}
    rows = await uow.session.execute(
        select(ProductWatch).where(ProductWatch.user_id == user_id, ProductWatch.product_id.in_(product_ids))
    )
    return {w.product_id: w for w in rows.scalars()}


async def record_view(*, uow: UnitOfWork, user_id: str, product_id: str, at: datetime | None = None) -> None:
    """Remember that the buyer looked at a product (the newest RECENTLY_VIEWED_KEPT are kept)."""
    at = at or utcnow()
    insert = pg_insert if uow.is_postgres else sqlite_insert
    await uow.session.execute(
        insert(RecentlyViewed)
        .values(user_id=user_id, product_id=product_id, viewed_at=at)
        .on_conflict_do_update(index_elements=["user_id", "product_id"], set_={"viewed_at": at})
    )
    keep = (
        select(RecentlyViewed.product_id)
        .where(RecentlyViewed.user_id == user_id)
        .order_by(RecentlyViewed.viewed_at.desc())
        .limit(RECENTLY_VIEWED_KEPT)
    )
    await uow.session.execute(
        delete(RecentlyViewed).where(RecentlyViewed.user_id == user_id, RecentlyViewed.product_id.not_in(keep))
    )
    await uow.commit()


async def recently_viewed(*, uow: UnitOfWork, user_id: str, page: int, per_page: int) -> Page[RecentlyViewedRead]:
    where = RecentlyViewed.user_id == user_id
    total = (await uow.session.execute(select(func.count()).select_from(RecentlyViewed).where(where))).scalar_one()
    rows = list(
        (
            await uow.session.execute(
                select(RecentlyViewed)
                .where(where)
                .order_by(RecentlyViewed.viewed_at.desc(), RecentlyViewed.product_id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).scalars()
    )
    products = await product_summaries(uow=uow, product_ids=[r.product_id for r in rows])
    items = [
        RecentlyViewedRead(product_id=r.product_id, viewed_at=r.viewed_at, product=products[r.product_id])
        for r in rows
        if r.product_id in products
    ]
    return Page[RecentlyViewedRead](items=items, total=int(total), page=page, per_page=per_page)
