"""Checkout reads: the buyer's cart lines priced fresh from the offers, for quoting and ordering."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from bazaar.cart.models import Cart, CartItem
from bazaar.catalog.models import Offer, Product
from bazaar.checkout.pricing import PricedLine
from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales import service as flash_sales


async def user_cart_lines(*, uow: UnitOfWork, user_id: str) -> tuple[str | None, list[PricedLine], str]:
    """The user's cart id, its lines at today's prices (inactive offers left out) and their currency."""
    return await _cart_lines(uow, Cart.user_id == user_id, Cart.status == "active")


async def guest_cart_lines(*, uow: UnitOfWork, cart_id: str) -> tuple[str | None, list[PricedLine], str]:
    """`user_cart_lines` for a guest: an anonymous cart known by its id (a bearer secret); a user's cart,
    a merged one or an unknown id has no lines."""
    return await _cart_lines(uow, Cart.id == cart_id, Cart.user_id.is_(None), Cart.status == "active")


async def _cart_lines(uow: UnitOfWork, *cart: ColumnElement[bool]) -> tuple[str | None, list[PricedLine], str]:
    """The cart and its lines in one query: a row per line whose offer is active, or one row of the cart alone."""
    rows = (
        await uow.session.execute(
            select(
                Cart.id,
                CartItem.quantity,
                Offer.id,
                Offer.sku_id,
                Offer.product_id,
                Offer.seller_id,
                Offer.price_amount,
                Offer.shipping_amount,
                Offer.currency,
                Product.title,
                Product.weight_grams,
                Product.tax_category,
            )
            .select_from(Cart)
            .outerjoin(CartItem, CartItem.cart_id == Cart.id)
            .outerjoin(Offer, (Offer.id == CartItem.offer_id) & (Offer.status == "active"))
            .outerjoin(Product, Product.id == Offer.product_id)
            .where(*cart)
            .order_by(CartItem.created_at, CartItem.id)
        )
    ).all()
    if not rows:
        return None, [], "USD"
    lines, currencies = [], set()
    for _, quantity, offer_id, sku_id, product_id, seller_id, price, shipping, currency, title, weight, tax in rows:
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
    return rows[0][0], lines, min(currencies) if currencies else "USD"


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
