"""The buy box: which offer a shopper gets by default when several sellers list the same product."""

from __future__ import annotations

from collections.abc import Iterable

from bazaar.catalog.schemas import OfferRead


def offer_rank(offer: OfferRead) -> tuple[int, int, float, str]:
    """Sort key for a product page: offers one can buy first, cheapest total, better-rated seller, stable id."""
    sold_out = 1 if offer.available_quantity <= 0 else 0
    return (sold_out, offer.total_price.amount, -offer.seller.rating, offer.id)


def best_offer(offers: Iterable[OfferRead]) -> OfferRead | None:
    """The in-stock offer with the lowest price + shipping; ties go to the better-rated seller."""
    in_stock = [o for o in offers if o.available_quantity > 0]
    return min(in_stock, key=offer_rank) if in_stock else None
