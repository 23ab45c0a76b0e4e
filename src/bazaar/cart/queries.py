"""Cart reads: offers as a cart shows them (fresh price, title, stock), and a cart's lines via the active-cart store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select

from bazaar.cart.models import Cart, CartItem
from bazaar.catalog.models import Offer, Product
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.stock import available_units
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


_OFFERS, _PRODUCTS = Offer.__table__.c, Product.__table__.c
_OFFER_VIEWS = (
    select(
        _OFFERS.id,
        _OFFERS.product_id,
        _OFFERS.seller_id,
        _PRODUCTS.title,
        _OFFERS.price_amount,
        _OFFERS.currency,
        _OFFERS.status,
        _PRODUCTS.images,
        available_units(_OFFERS.id),
    )
    .join_from(Offer.__table__, Product.__table__, _PRODUCTS.id == _OFFERS.product_id)
    .where(_OFFERS.id.in_(bindparam("ids", expanding=True)))
)  # built once: every cart read and add runs it


async def offer_views(uow: UnitOfWork, offer_ids: Iterable[str]) -> dict[str, OfferView]:
    ids = sorted(set(offer_ids))
    if not ids:
        return {}
    rows = await uow.session.execute(_OFFER_VIEWS, {"ids": ids})
    return {
        r[0]: OfferView(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6] == "active", int(r[8]), _thumb(r[7]))
        for r in rows
    }


def _thumb(images: list[dict[str, Any]] | None) -> str | None:
    return str(images[0]["urls"]["thumb"]) if images else None


@dataclass
class CartRow:
    """A cart as a use case read (and, when writing, locked) it; `updated_at` is its version (service._touch)."""

    id: str
    user_id: str | None
    status: str
    updated_at: datetime


CARTS = cast(Table, Cart.__table__)
ITEMS = cast(Table, CartItem.__table__)
CART_COLUMNS = (CARTS.c.id, CARTS.c.user_id, CARTS.c.status, CARTS.c.updated_at)
_LINE_COLUMNS = (ITEMS.c.id, ITEMS.c.offer_id, ITEMS.c.quantity, ITEMS.c.price_at_add_amount, ITEMS.c.currency)


def version_of(cart: CartRow) -> int:
    """Microseconds since the epoch of the cart's last change: grows with every write (see service._touch)."""
    return (aware(cart.updated_at) - _EPOCH) // timedelta(microseconds=1)


def snapshot(cart: CartRow, lines: Iterable[StoredCartLine]) -> StoredCart:
    ordered = sorted(lines, key=lambda line: line.item_id)  # ids sort by creation time: lines keep their order
    return StoredCart(cart.id, version_of(cart), cart.user_id, cart.status, tuple(ordered))


_LINES_OF = select(*_LINE_COLUMNS).where(ITEMS.c.cart_id == bindparam("cart_id"))


async def cart_items(uow: UnitOfWork, cart_id: str) -> list[StoredCartLine]:
    """The cart's lines as the database has them now (plain rows: the cart's use cases write with statements)."""
    return [StoredCartLine(*row) for row in await uow.session.execute(_LINES_OF, {"cart_id": cart_id})]


async def cart_lines(uow: UnitOfWork, store: CartStore, cart: CartRow) -> tuple[StoredCartLine, ...]:
    """The store's copy when it is this exact version of the cart, else the database's (and refill the store)."""
    held = await store.load(cart.id)
    if held is not None and held.version == version_of(cart):
        return held.lines
    fresh = snapshot(cart, await cart_items(uow, cart.id))
    await store.save(fresh)
    return fresh.lines
