"""Vouchers in checkout: each seller's discount spread over that seller's lines (what pricing's hook takes)."""

from __future__ import annotations

from collections.abc import Iterable

from bazaar.checkout.pricing import PricedLine
from bazaar.promotions.service import Discount, allocate


def line_discounts(lines: Iterable[PricedLine], discounts: Iterable[Discount]) -> dict[str, int]:
    lines = list(lines)
    out: dict[str, int] = {}
    for discount in discounts:
        totals = {li.offer_id: li.unit_price * li.quantity for li in lines if li.seller_id == discount.seller_id}
        out.update(allocate(discount.amount, totals))
    return out
