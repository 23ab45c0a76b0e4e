"""Tax rates and rounding, address validation, and per-seller shipping quotes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bazaar.checkout.pricing import PricedLine, ShippingMethodUnavailable, price_cart
from bazaar.kernel.errors import ValidationFailed
from bazaar.shipping.addresses import US_REGIONS, ShippingAddress
from bazaar.shipping.rates import options_for_shipment, zone_for
from bazaar.tax.service import line_tax, round_ppm, rule_for, shipping_tax

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "country": "US",
}


def test_every_us_state_has_a_rate() -> None:
    for region in US_REGIONS:
        assert rule_for("US", region).region == region


def test_rounding_is_half_up_per_line() -> None:
    assert round_ppm(1000, 62500) == 63  # 62.5 -> 63
    assert round_ppm(999, 62500) == 62  # 62.4375 -> 62
    assert round_ppm(0, 62500) == 0
    assert line_tax(country="US", region="TX", tax_category="general", amount=1000) == 63


def test_exemptions_vat_and_shipping_taxability() -> None:
    assert line_tax(country="US", region="PA", tax_category="clothing", amount=5000) == 0
    assert line_tax(country="US", region="PA", tax_category="general", amount=5000) == 300
    assert line_tax(country="US", region="OR", tax_category="general", amount=5000) == 0
    assert line_tax(country="DE", region="BE", tax_category="general", amount=10000) == 1900
    assert shipping_tax(country="US", region="TX", amount=1000) == 63
    assert shipping_tax(country="US", region="CA", amount=1000) == 0
    assert line_tax(country="JP", region="13", tax_category="general", amount=1000) == 0
    with pytest.raises(ValidationFailed):
        line_tax(country="US", region="TX", tax_category="spaceships", amount=1)


def test_address_validation() -> None:
    assert ShippingAddress(**{**ADDRESS, "region": "tx", "country": "us"}).region == "TX"
    assert ShippingAddress(**{**ADDRESS, "country": "CA", "region": "ON", "postal_code": "k1a 0b1"}).postal_code == (
        "K1A 0B1"
    )
    for bad in ({"country": "XX"}, {"region": "ZZ"}, {"postal_code": "7870"}, {"name": ""}, {"city": "  "}):
        with pytest.raises(ValidationError):
            ShippingAddress(**{**ADDRESS, **bad})
    with pytest.raises(ValidationError):
        ShippingAddress(**{k: v for k, v in ADDRESS.items() if k != "line1"})


def test_zones_and_weight_pricing() -> None:
    assert zone_for("US", "HI") == "us_remote" and zone_for("US", "TX") == "domestic"
    assert zone_for("DE", "BE") == "europe" and zone_for("JP", "13") == "world"
    light = {o.method: o for o in options_for_shipment(country="US", region="TX", weight_grams=400, listed_amount=0)}
    heavy = {o.method: o for o in options_for_shipment(country="US", region="TX", weight_grams=2600, listed_amount=0)}
    assert light["standard"].amount == 0 and light["standard"].estimated_days == 5
    assert heavy["expedited"].amount == light["expedited"].amount + 5 * 150
    intl = {o.method for o in options_for_shipment(country="DE", region="BE", weight_grams=400, listed_amount=499)}
    assert intl == {"international", "international_express"}


def _line(offer: str, seller: str, qty: int, price: int, ship: int, category: str = "general") -> PricedLine:
    return PricedLine(offer, "sku", "prod", seller, "Thing", qty, price, ship, 500, category)


def test_quote_is_per_seller_with_combined_shipping_and_per_line_tax() -> None:
    lines = [_line("o1", "s1", 2, 1999, 499), _line("o2", "s1", 1, 500, 299), _line("o3", "s2", 1, 1000, 0)]
    quote = price_cart(lines=lines, country="US", region="TX", method="standard", currency="USD")
    assert quote.subtotal == 2 * 1999 + 500 + 1000
    assert quote.shipping == 499  # s1 pays its highest listed price once, s2 ships free
    assert quote.line_taxes == {"o1": 250, "o2": 31, "o3": 63}  # 249.875, 31.25, 62.5 rounded half up
    assert quote.tax == 250 + 31 + 63 + 31  # shipping taxed in TX: 499 * 6.25% = 31.1875
    assert quote.total == quote.subtotal + quote.shipping + quote.tax
    methods = [o.method for o in quote.options]
    assert methods[0] == "standard" and "express" in methods


def test_unavailable_method_is_refused() -> None:
    with pytest.raises(ShippingMethodUnavailable):
        price_cart(lines=[_line("o1", "s1", 1, 100, 0)], country="DE", region="BE", method="standard", currency="USD")
    quote = price_cart(lines=[_line("o1", "s1", 1, 100, 0)], country="DE", region="BE", method=None, currency="USD")
    assert quote.method == "international"
