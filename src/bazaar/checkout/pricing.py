"""Pricing a cart for an address: per-seller shipping options, per-line tax, totals. Pure, no I/O."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from bazaar.kernel.errors import ValidationFailed
from bazaar.shipping.rates import ShippingOption, options_for_shipment
from bazaar.tax.service import line_tax, shipping_tax


@dataclass(frozen=True)
class PricedLine:
    offer_id: str
    sku_id: str
    product_id: str
    seller_id: str
    title: str
    quantity: int
    unit_price: int
    listed_shipping: int
    weight_grams: int
    tax_category: str


@dataclass
class SellerShipment:
    seller_id: str
    options: list[ShippingOption]
    chosen: ShippingOption | None = None
    tax: int = 0


@dataclass(frozen=True)
class CommonOption:
    """One method offered to the whole cart: prices summed over sellers, days of the slowest."""

    method: str
    carrier: str
    price: int
    estimated_days: int


@dataclass
class Quote:
    currency: str
    lines: list[PricedLine]
    line_taxes: dict[str, int]
    shipments: list[SellerShipment]
    method: str | None
    subtotal: int = 0
    shipping: int = 0
    tax: int = 0
    options: list[CommonOption] = field(default_factory=list)
    line_discounts: dict[str, int] = field(default_factory=dict)  # offer id -> its share of a voucher

    @property
    def discount(self) -> int:
        return sum(self.line_discounts.values())

    @property
    def total(self) -> int:
        return self.subtotal - self.discount + self.shipping + self.tax


class ShippingMethodUnavailable(ValidationFailed):
    """This shipping method does not deliver to the address for every seller in the cart."""

    code = "shipping_method_unavailable"


def price_cart(
    *,
    lines: list[PricedLine],
    country: str,
    region: str,
    method: str | None,
    currency: str,
    per_seller: dict[str, str] | None = None,
    line_discounts: dict[str, int] | None = None,
) -> Quote:
    """Price `lines` for the destination. Each seller's parcel goes by `per_seller[seller_id]` when the
    buyer chose one for it, else by `method`; with neither, by the cheapest method every seller offers.
    `line_discounts` (the pricing hook for promotions: offer id -> amount off the line) lower what each line
    costs, and its tax with it."""
    line_discounts = line_discounts or {}
    per_seller = per_seller or {}
    by_seller: dict[str, list[PricedLine]] = defaultdict(list)
    for line in lines:
        by_seller[line.seller_id].append(line)
    shipments = [
        SellerShipment(
            seller_id=seller_id,
            options=options_for_shipment(
                country=country,
                region=region,
                weight_grams=sum(li.weight_grams * li.quantity for li in seller_lines),
                listed_amount=max(li.listed_shipping for li in seller_lines),
            ),
        )
        for seller_id, seller_lines in sorted(by_seller.items())
    ]
    common = _common_options(shipments)
    defaulted = [s for s in shipments if s.seller_id not in per_seller]
    if method is not None and defaulted and method not in _common_options(defaulted):
        raise ShippingMethodUnavailable(available=sorted(common), method=method)
    chosen_method = method or (
        min(common.values(), key=lambda o: (o.price, o.estimated_days)).method if common else None
    )
    quote = Quote(currency=currency, lines=lines, line_taxes={}, shipments=shipments, method=chosen_method)
    for line in lines:
        gross = line.unit_price * line.quantity
        off = min(gross, max(0, line_discounts.get(line.offer_id, 0)))
        quote.line_discounts[line.offer_id] = off
        quote.line_taxes[line.offer_id] = line_tax(
            country=country, region=region, tax_category=line.tax_category, amount=gross - off
        )
    for shipment in shipments:
        wanted = per_seller.get(shipment.seller_id, chosen_method)
        shipment.chosen = next((o for o in shipment.options if o.method == wanted), None)
        if shipment.chosen is None and shipment.seller_id in per_seller:
            raise ShippingMethodUnavailable(
                available=sorted(o.method for o in shipment.options), method=wanted, seller_id=shipment.seller_id
            )
        if shipment.chosen is not None:
            shipment.tax = shipping_tax(country=country, region=region, amount=shipment.chosen.amount)
    quote.subtotal = sum(li.unit_price * li.quantity for li in lines)
    quote.shipping = sum(s.chosen.amount for s in shipments if s.chosen)
    quote.tax = sum(quote.line_taxes.values()) + sum(s.tax for s in shipments)
    quote.options = sorted(common.values(), key=lambda o: (o.price, o.estimated_days))
    return quote


def seller_subtotals(lines: list[PricedLine]) -> dict[str, int]:
    """What each seller's lines cost before discounts: what a seller's voucher is measured against."""
    out: dict[str, int] = defaultdict(int)
    for line in lines:
        out[line.seller_id] += line.unit_price * line.quantity
    return dict(out)


def _common_options(shipments: list[SellerShipment]) -> dict[str, CommonOption]:
    """Methods every seller can ship with, priced as the sum over sellers, days as the slowest."""
    if not shipments:
        return {}
    methods = set.intersection(*({o.method for o in s.options} for s in shipments))
    common: dict[str, CommonOption] = {}
    for method in methods:
        chosen = [next(o for o in s.options if o.method == method) for s in shipments]
        carriers = sorted({o.carrier for o in chosen})
        common[method] = CommonOption(
            method=method,
            carrier=", ".join(carriers),
            price=sum(o.amount for o in chosen),
            estimated_days=max(o.estimated_days for o in chosen),
        )
    return common
