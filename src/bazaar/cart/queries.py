"""Cart reads: offers as a cart shows them (fresh price, title, stock), and a cart's lines via the active-cart store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BindParameter,
    ColumnElement,
    CompoundSelect,
    FromClause,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    select,
    true,
    union_all,
)

from bazaar.cart.models import Cart, CartItem
from bazaar.catalog.models import Offer, Product
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.stock import available_units
from bazaar.kernel.clock import aware
from bazaar.kernel.ports import CartStore, StoredCart, StoredCartLine
from bazaar.promotions.service import codes_on

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
_OFFERS_WITH_PRODUCTS = Offer.__table__.join(Product.__table__, _PRODUCTS.id == _OFFERS.product_id)
_VIEW_COLUMNS = (
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
_OFFER_VIEWS = Prepared.listing(
    lambda one_of: select(*_VIEW_COLUMNS).select_from(_OFFERS_WITH_PRODUCTS).where(one_of(_OFFERS.id, "ids"))
)  # built once: every cart read and add runs it


def _view(r: Any) -> OfferView:
    return OfferView(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6] == "active", int(r[8]), _thumb(r[7]))


async def offer_views(uow: UnitOfWork, offer_ids: Iterable[str]) -> dict[str, OfferView]:
    ids = sorted(set(offer_ids))
    if not ids:
        return {}
    return {r[0]: _view(r) for r in await uow.fetch(_OFFER_VIEWS, {"ids": ids})}


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


_LINES_OF = Prepared(select(*_LINE_COLUMNS).where(ITEMS.c.cart_id == bindparam("cart_id")))


async def cart_items(uow: UnitOfWork, cart_id: str) -> list[StoredCartLine]:
    """The cart's lines as the database has them now (plain rows: the cart's use cases write with statements)."""
    return [StoredCartLine(*row) for row in await uow.fetch(_LINES_OF, {"cart_id": cart_id})]


_ORDERED = bindparam("ordered", type_=ARRAY(ITEMS.c.offer_id.type))
_REMOVE_ORDERED = Prepared.listing(  # built once: every order runs it
    lambda one_of: delete(ITEMS).where(ITEMS.c.cart_id == bindparam("the_cart"), one_of(ITEMS.c.offer_id, "ordered"))
)
# PostgreSQL: the lines removed and those left read in one statement. Its SELECT sees the lines as they were when the
# statement began, so the removed ones are left out by the same condition; nothing else can have changed them, as
# the caller holds the cart's lock.
_REMOVE_ORDERED_LEAVING = Prepared(
    select(*_LINE_COLUMNS)
    .where(ITEMS.c.cart_id == bindparam("the_cart"), ~(ITEMS.c.offer_id == any_(_ORDERED)))
    .add_cte(
        delete(ITEMS).where(ITEMS.c.cart_id == bindparam("the_cart"), ITEMS.c.offer_id == any_(_ORDERED)).cte("gone")
    )
)


async def remove_ordered_lines(uow: UnitOfWork, cart_id: str, offer_ids: list[str]) -> list[StoredCartLine]:
    """Remove the lines of these offers from a cart the caller has locked; answers the lines left."""
    params = {"the_cart": cart_id, "ordered": offer_ids}
    if uow.is_postgres:  # one round trip
        return [StoredCartLine(*row) for row in await uow.fetch(_REMOVE_ORDERED_LEAVING, params)]
    await uow.fetch(_REMOVE_ORDERED, params)  # SQLite has no DELETE inside WITH
    return await cart_items(uow, cart_id)


@dataclass(frozen=True)
class CartContents:
    """A cart's lines, the offers of those lines and of one more (the one being added), and whether the cart has
    voucher codes on it: what an add needs, in one statement."""

    lines: list[StoredCartLine]
    views: dict[str, OfferView]
    has_codes: bool


def _contents(found_by: ColumnElement[bool] | None = None) -> CompoundSelect:
    """The cart named by the parameter `the_cart`; or, with `found_by`, the cart that condition finds, read in the
    same statement, its row (`CART_COLUMNS`) on every row answered."""
    offer: BindParameter[str] = bindparam("offer")
    if found_by is None:
        cart: ColumnElement[str] = bindparam("the_cart")
        offers: FromClause = _OFFERS_WITH_PRODUCTS
        lines: FromClause = ITEMS
        row: tuple[ColumnElement[Any], ...] = ()
    else:
        found = select(*CART_COLUMNS).where(found_by).cte("found")
        cart, row = found.c.id, tuple(found.c)
        offers = _OFFERS_WITH_PRODUCTS.outerjoin(found, true())  # the offer asked for, whether or not a cart is found
        lines = found.join(ITEMS, ITEMS.c.cart_id == found.c.id)
    mine = and_(ITEMS.c.offer_id == _OFFERS.id, ITEMS.c.cart_id == cart)
    extra = (*_LINE_COLUMNS, codes_on(cart), *row)
    # Two index lookups, not one OR over both (which the planner may answer by scanning every offer): the offer
    # asked for, with its line if the cart has one; then the cart's other lines, with their offers.
    asked = select(*_VIEW_COLUMNS, *extra).select_from(offers.outerjoin(ITEMS, mine)).where(_OFFERS.id == offer)
    others = (
        select(*_VIEW_COLUMNS, *extra)
        .select_from(lines.join(_OFFERS_WITH_PRODUCTS, _OFFERS.id == ITEMS.c.offer_id))
        .where(ITEMS.c.cart_id == cart, ITEMS.c.offer_id != offer)
    )
    return union_all(asked, others)


_CONTENTS = Prepared(_contents())
_WIDTH = len(_VIEW_COLUMNS)


def _read_contents(rows: list[Any]) -> CartContents:
    lines = [StoredCartLine(*r[_WIDTH : _WIDTH + 5]) for r in rows if r[_WIDTH] is not None]
    return CartContents(lines, {r[0]: _view(r) for r in rows}, any(bool(r[_WIDTH + 5]) for r in rows))


async def contents(uow: UnitOfWork, cart_id: str, offer_id: str) -> CartContents:
    """Read after the cart is locked (a statement of its own: it sees every write committed before the lock)."""
    return _read_contents((await uow.fetch(_CONTENTS, {"the_cart": cart_id, "offer": offer_id})).all())


def contents_found_by(found_by: ColumnElement[bool]) -> Prepared:
    """The statement `found_contents` runs for carts found by this condition (its parameters and `offer`)."""
    return Prepared(_contents(found_by))


async def found_contents(
    uow: UnitOfWork, statement: Prepared, params: dict[str, Any]
) -> tuple[CartRow | None, CartContents] | None:
    """The cart and its contents read by one statement without a transaction or a lock (`UnitOfWork.fetch_alone`),
    a consistent snapshot of both: the cart's version says which state of the lines was read. None where it cannot be
    read so (see `fetch_alone`)."""
    result = await uow.fetch_alone(statement, params)
    if result is None:
        return None
    rows = result.all()
    cart = next((CartRow(*r[_WIDTH + 6 :]) for r in rows if r[_WIDTH + 6] is not None), None)
    return cart, _read_contents(rows)


async def cart_lines(uow: UnitOfWork, store: CartStore, cart: CartRow) -> tuple[StoredCartLine, ...]:
    """The store's copy when it is this exact version of the cart, else the database's (and refill the store)."""
    held = await store.load(cart.id)
    if held is not None and held.version == version_of(cart):
        return held.lines
    fresh = snapshot(cart, await cart_items(uow, cart.id))
    await store.save(fresh)
    return fresh.lines
