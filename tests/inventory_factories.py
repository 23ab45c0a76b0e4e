"""Fixture builders for inventory and cart tests: sellers, offers with stock, price and status edits."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import update

from bazaar.accounts.models import Seller, User
from bazaar.bootstrap import Container
from bazaar.catalog.models import Category, Offer, Product, Sku
from bazaar.inventory.stock import initialize_stock, set_on_hand, stock_levels

_n = itertools.count(1)


@dataclass(frozen=True)
class MadeOffer:
    id: str
    product_id: str
    seller_id: str
    title: str
    price: int


async def make_seller(container: Container, *, user_id: str | None = None) -> str:
    """A seller row (and its user, unless given); answers the seller id."""
    n = next(_n)
    async with container.uow() as uow:
        if user_id is None:
            user = User(email=f"seller{n}-{id(container)}@example.com", name=f"Seller {n}", password_hash="x")
            uow.session.add(user)
            await uow.flush()
            user_id = user.id
        seller = Seller(user_id=user_id, display_name=f"Shop {n}")
        uow.session.add(seller)
        await uow.commit()
        return seller.id


async def make_offer(
    container: Container,
    *,
    quantity: int,
    price: int = 1999,
    buckets: int = 1,
    seller_id: str | None = None,
    title: str | None = None,
) -> MadeOffer:
    """A category, product, SKU and one active offer with `quantity` units over `buckets` rows."""
    seller_id = seller_id or await make_seller(container)
    n = next(_n)
    title = title or f"Widget {n}"
    async with container.uow() as uow:
        category = Category(slug=f"cat-{n}-{id(container)}", name=f"Category {n}", path="/")
        uow.session.add(category)
        await uow.flush()
        product = Product(title=title, brand="Acme", category_id=category.id)
        uow.session.add(product)
        await uow.flush()
        sku = Sku(product_id=product.id)
        uow.session.add(sku)
        await uow.flush()
        offer = Offer(
            sku_id=sku.id, product_id=product.id, seller_id=seller_id, price_amount=price, bucket_count=buckets
        )
        uow.session.add(offer)
        await uow.flush()
        await initialize_stock(uow=uow, offer_id=offer.id, product_id=product.id, quantity=quantity, buckets=buckets)
        await uow.commit()
        return MadeOffer(offer.id, product.id, seller_id, title, price)


async def set_price(container: Container, offer_id: str, price: int) -> None:
    async with container.uow() as uow:
        await uow.session.execute(update(Offer).where(Offer.id == offer_id).values(price_amount=price))
        await uow.commit()


async def set_status(container: Container, offer_id: str, status: str) -> None:
    async with container.uow() as uow:
        await uow.session.execute(update(Offer).where(Offer.id == offer_id).values(status=status))
        await uow.commit()


async def restock(container: Container, offer: MadeOffer, quantity: int) -> None:
    async with container.uow() as uow:
        await set_on_hand(
            uow=uow, offer_id=offer.id, product_id=offer.product_id, quantity=quantity, sold_out=container.sold_out
        )
        await uow.commit()


async def levels(container: Container, offer_id: str) -> tuple[int, int]:
    """(on_hand, available) as the database holds them now."""
    async with container.read_uow() as uow:
        level = (await stock_levels(uow=uow, offer_ids=[offer_id]))[offer_id]
        return level.on_hand, level.available
