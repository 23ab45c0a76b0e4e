"""Scheduled sale prices on offers: a seller sets {price, starts_at, ends_at}; at the start the offer's price becomes
the sale price and at the end the regular price comes back. Switching the price itself (rather than every reader
working out which price applies) keeps pages, search, carts and checkout on the one price column they already read;
each switch emits catalog.offer_updated.v1, so pages and search follow within seconds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bazaar.catalog.errors import InvalidSale
from bazaar.catalog.events import OfferUpdated
from bazaar.catalog.models import Offer
from bazaar.catalog.schemas import SaleIn
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import aware, utcnow

BATCH = 200


def set_sale(offer: Offer, sale: SaleIn | None, *, now: datetime) -> None:
    """Schedule (or replace, or with None cancel) the offer's sale; a live sale being replaced ends first."""
    if offer.sale_state == "live":
        _end(offer)
    if sale is None:
        offer.sale_price_amount = offer.sale_starts_at = offer.sale_ends_at = offer.sale_state = None
        return
    starts, ends = aware(sale.starts_at), aware(sale.ends_at)
    if ends <= starts or ends <= now:
        raise InvalidSale("a sale must end after it starts, and in the future")
    if sale.price.amount >= offer.price_amount:
        raise InvalidSale("the sale price must be below the regular price", price=offer.price_amount)
    offer.sale_price_amount, offer.sale_starts_at, offer.sale_ends_at = sale.price.amount, starts, ends
    offer.sale_state = "scheduled"
    if starts <= now:
        _start(offer)


def set_regular_price(offer: Offer, amount: int) -> None:
    """A price change while a sale is live changes the price the offer returns to (the sale price stays)."""
    if offer.sale_state == "live":
        offer.regular_price_amount = amount
    else:
        offer.price_amount = amount


def _start(offer: Offer) -> None:
    assert offer.sale_price_amount is not None
    offer.regular_price_amount, offer.price_amount = offer.price_amount, offer.sale_price_amount
    offer.sale_state = "live"


def _end(offer: Offer) -> None:
    if offer.regular_price_amount is not None:
        offer.price_amount = offer.regular_price_amount
    offer.regular_price_amount = None
    offer.sale_state = "ended"


async def switch_due_sales(*, uow: UnitOfWork, now: datetime | None = None) -> int:
    """Start the sales whose time has come and end those that are over; answers how many offers switched.
    Rows are claimed with SKIP LOCKED on PostgreSQL, so any number of workers may run this."""
    now = now or utcnow()
    due = (
        select(Offer)
        .where(
            ((Offer.sale_state == "scheduled") & (Offer.sale_starts_at <= now))
            | ((Offer.sale_state.in_(("scheduled", "live"))) & (Offer.sale_ends_at <= now))
        )
        .order_by(Offer.id)
        .limit(BATCH)
    )
    if uow.dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    offers = list((await uow.session.execute(due)).scalars())
    for offer in offers:
        if offer.sale_ends_at is not None and aware(offer.sale_ends_at) <= now:
            _end(offer)
        else:
            _start(offer)
        offer.updated_at = now
        uow.emit(OfferUpdated(offer_id=offer.id, product_id=offer.product_id))
    return len(offers)
