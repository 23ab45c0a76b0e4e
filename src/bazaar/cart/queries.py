"""Cart reads: offers as a cart shows them (fresh price, title, stock), and a cart's lines via the active-cart store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bazaar.cart.models import Cart, CartItem
from bazaar.catalog.models import Offer, Product
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.stock import stock_levels
from bazaar.kernel.clock import aware
from bazaar.kernel.ports import CartStore, StoredCart, StoredCartLine

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OfferView:
    offer_id: str
    product_id: str
    seller_id: str
    title: str
    price: int
    currency: str
    active: bool
    available: int
    image: str | None = None  # the product's main picture, thumbnail size


async def offer_views(uow: UnitOfWork, offer_ids: Iterable[str]) -> dict[str, OfferView]:
    ids = sorted(set(offer_ids))
    if not ids:
        return {}
    rows = await uow.session.execute(
        select(
            Offer.id,
            Offer.product_id,
            Offer.seller_id,
            Product.title,
            Offer.price_amount,
            Offer.currency,
            Offer.status,
            Product.images,
        )
        .join(Product, Product.id == Offer.product_id)
        .where(Offer.id.in_(ids))
    )
    found = list(rows)
    levels = await stock_levels(uow=uow, offer_ids=[r[0] for r in found])
    return {
        r[0]: OfferView(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6] == "active", levels[r[0]].available, _thumb(r[7]))
        for r in found
    }


def _thumb(images: list[dict[str, Any]] | None) -> str | None:
    return str(images[0]["urls"]["thumb"]) if images else None


def version_of(cart: Cart) -> int:
    """Microseconds since the epoch of the cart's last change: grows with every write (see service._touch)."""
    return (aware(cart.updated_at) - _EPOCH) // timedelta(microseconds=1)


def stored_lines(items: Iterable[CartItem]) -> tuple[StoredCartLine, ...]:
    ordered = sorted(items, key=lambda i: i.id)  # ids sort by creation time: lines keep the order they were added
    return tuple(StoredCartLine(i.id, i.offer_id, i.quantity, i.price_at_add_amount, i.currency) for i in ordered)


def snapshot(cart: Cart, items: Iterable[CartItem]) -> StoredCart:
    return StoredCart(cart.id, version_of(cart), cart.user_id, cart.status, stored_lines(items))


async def cart_items(uow: UnitOfWork, cart_id: str) -> list[CartItem]:
    query = select(CartItem).where(CartItem.cart_id == cart_id).execution_options(populate_existing=True)
    return list((await uow.session.execute(query)).scalars())


async def cart_lines(uow: UnitOfWork, store: CartStore, cart: Cart) -> tuple[StoredCartLine, ...]:
    """The store's copy when it is this exact version of the cart, else the database's (and refill the store)."""
    held = await store.load(cart.id)
    if held is not None and held.version == version_of(cart):
        return held.lines
    fresh = snapshot(cart, await cart_items(uow, cart.id))
    await store.save(fresh)
    return fresh.lines
