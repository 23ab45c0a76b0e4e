"""Checkout reads: the buyer's cart lines priced fresh from the offers, for quoting and ordering."""

from __future__ import annotations

from sqlalchemy import select

from bazaar.cart.models import Cart, CartItem
from bazaar.catalog.models import Offer, Product
from bazaar.checkout.pricing import PricedLine
from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales import service as flash_sales


async def user_cart_lines(*, uow: UnitOfWork, user_id: str) -> tuple[str | None, list[PricedLine], str]:
    """The user's cart id, its lines at today's prices (inactive offers left out) and their currency."""
    cart_id = (
        await uow.session.execute(select(Cart.id).where(Cart.user_id == user_id, Cart.status == "active"))
    ).scalar_one_or_none()
    if cart_id is None:
        return None, [], "USD"
    return cart_id, *await _lines(uow, cart_id)


async def guest_cart_lines(*, uow: UnitOfWork, cart_id: str) -> tuple[str | None, list[PricedLine], str]:
    """`user_cart_lines` for a guest: an anonymous cart known by its id (a bearer secret); a user's cart,
    a merged one or an unknown id has no lines."""
    found = (
        await uow.session.execute(
            select(Cart.id).where(Cart.id == cart_id, Cart.user_id.is_(None), Cart.status == "active")
        )
    ).scalar_one_or_none()
    if found is None:
        return None, [], "USD"
    return found, *await _lines(uow, found)


async def _lines(uow: UnitOfWork, cart_id: str) -> tuple[list[PricedLine], str]:
    rows = await uow.session.execute(
        select(CartItem.quantity, Offer, Product.title, Product.weight_grams, Product.tax_category)
        .join(Offer, Offer.id == CartItem.offer_id)
        .join(Product, Product.id == Offer.product_id)
        .where(CartItem.cart_id == cart_id, Offer.status == "active")
        .order_by(CartItem.created_at, CartItem.id)
    )
    lines, currencies = [], set()
    for quantity, offer, title, weight, tax_category in rows:
        currencies.add(offer.currency)
        lines.append(
            PricedLine(
                offer_id=offer.id,
                sku_id=offer.sku_id,
                product_id=offer.product_id,
                seller_id=offer.seller_id,
                title=title,
                quantity=quantity,
                unit_price=offer.price_amount,
                listed_shipping=offer.shipping_amount,
                weight_grams=weight,
                tax_category=tax_category,
            )
        )
    # One marketplace currency today; a cart never mixes them because offers are all listed in it.
    return lines, min(currencies) if currencies else "USD"


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
