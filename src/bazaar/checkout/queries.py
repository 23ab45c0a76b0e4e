"""Checkout reads: the buyer's cart lines priced fresh from the offers, for quoting and ordering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, bindparam, select

from bazaar.cart.models import Cart, CartItem
from bazaar.catalog.models import Offer, Product
from bazaar.checkout.pricing import PricedLine
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales import service as flash_sales
from bazaar.promotions import service as promotions


@dataclass(frozen=True)
class CartToPrice:
    """A cart's id, its lines at today's prices (inactive offers left out), their currency, and whether the cart
    has voucher codes on it (a cart without them skips reading them)."""

    cart_id: str | None
    lines: list[PricedLine]
    currency: str
    has_codes: bool


async def user_cart_lines(*, uow: UnitOfWork, user_id: str) -> CartToPrice:
    """The user's cart to price."""
    return await _cart_lines(uow, _USERS_CART, {"for_user": user_id})


async def guest_cart_lines(*, uow: UnitOfWork, cart_id: str) -> CartToPrice:
    """`user_cart_lines` for a guest: an anonymous cart known by its id (a bearer secret); a user's cart,
    a merged one or an unknown id has no lines."""
    return await _cart_lines(uow, _GUESTS_CART, {"the_cart": cart_id})


_CARTS, _ITEMS = cast(Table, Cart.__table__), cast(Table, CartItem.__table__)
_OFFERS, _PRODUCTS = cast(Table, Offer.__table__), cast(Table, Product.__table__)


def _cart_statement(*cart: ColumnElement[bool]) -> Select[Any]:
    """The cart and its lines in one query: a row per line whose offer is active, or one row of the cart alone."""
    return (
        select(
            _CARTS.c.id,
            _ITEMS.c.quantity,
            _OFFERS.c.id,
            _OFFERS.c.sku_id,
            _OFFERS.c.product_id,
            _OFFERS.c.seller_id,
            _OFFERS.c.price_amount,
            _OFFERS.c.shipping_amount,
            _OFFERS.c.currency,
            _PRODUCTS.c.title,
            _PRODUCTS.c.weight_grams,
            _PRODUCTS.c.tax_category,
            promotions.codes_on(_CARTS.c.id),
        )
        .select_from(
            _CARTS.outerjoin(_ITEMS, _ITEMS.c.cart_id == _CARTS.c.id)
            .outerjoin(_OFFERS, (_OFFERS.c.id == _ITEMS.c.offer_id) & (_OFFERS.c.status == "active"))
            .outerjoin(_PRODUCTS, _PRODUCTS.c.id == _OFFERS.c.product_id)
        )
        .where(*cart)
        .order_by(_ITEMS.c.created_at, _ITEMS.c.id)
    )


# Built once: every checkout and quote runs one of them.
_USERS_CART = Prepared(_cart_statement(_CARTS.c.user_id == bindparam("for_user"), _CARTS.c.status == "active"))
_GUESTS_CART = Prepared(
    _cart_statement(_CARTS.c.id == bindparam("the_cart"), _CARTS.c.user_id.is_(None), _CARTS.c.status == "active")
)


async def _cart_lines(uow: UnitOfWork, statement: Prepared, params: dict[str, Any]) -> CartToPrice:
    rows = (await uow.fetch(statement, params)).all()
    if not rows:
        return CartToPrice(None, [], "USD", False)
    lines, currencies = [], set()
    for _, quantity, offer_id, sku_id, product_id, seller_id, price, shipping, currency, title, weight, tax, _ in rows:
        if offer_id is None:  # an empty cart's one row, or a line whose offer is no longer sold
            continue
        currencies.add(currency)
        lines.append(
            PricedLine(
                offer_id=offer_id,
                sku_id=sku_id,
                product_id=product_id,
                seller_id=seller_id,
                title=title,
                quantity=quantity,
                unit_price=price,
                listed_shipping=shipping,
                weight_grams=weight,
                tax_category=tax,
            )
        )
    # One marketplace currency today; a cart never mixes them because offers are all listed in it.
    return CartToPrice(rows[0][0], lines, min(currencies) if currencies else "USD", bool(rows[0][-1]))


async def held_lines(*, uow: UnitOfWork, held: dict[str, tuple[int, int]]) -> list[PricedLine]:
    """Lines for units already held at an agreed price (a flash sale's): offer id -> (quantity, unit price). A line
    never costs more than the offer does now: a price the seller lowered since, or a timed sale that started,
    under the sale's price wins (the buyer went through the queue for a deal, not to pay more)."""
    rows = await uow.session.execute(
        select(Offer, Product.title, Product.weight_grams, Product.tax_category)
        .join(Product, Product.id == Offer.product_id)
        .where(Offer.id.in_(sorted(held)))
        .order_by(Offer.id)
    )
    return [
        PricedLine(
            offer_id=offer.id,
            sku_id=offer.sku_id,
            product_id=offer.product_id,
            seller_id=offer.seller_id,
            title=title,
            quantity=held[offer.id][0],
            unit_price=flash_sales.price_paid(held[offer.id][1], offer.price_amount),
            listed_shipping=offer.shipping_amount,
            weight_grams=weight,
            tax_category=tax_category,
        )
        for offer, title, weight, tax_category in rows
    ]
