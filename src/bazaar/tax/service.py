"""Tax: rates by destination and product tax category, from the table in rates.csv.

Rounding rule: tax is computed per order line on (unit price x quantity) and rounded to the
nearest minor unit, halves rounding up (away from zero), in integer arithmetic; shipping is
taxed the same way, per seller shipment, where the destination taxes shipping. An order's tax
is the sum of those rounded amounts, so a refunded line gives back exactly its own tax.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bazaar.tax.categories import TAX_CATEGORIES, check_tax_category

__all__ = ["TAX_CATEGORIES", "line_tax", "round_ppm", "rule_for", "shipping_tax"]
_RATES_FILE = Path(__file__).with_name("rates.csv")


@dataclass(frozen=True)
class TaxRule:
    country: str
    region: str
    rate_ppm: int
    shipping_taxable: bool
    exempt: frozenset[str]


@lru_cache(maxsize=1)
def _rules() -> dict[tuple[str, str], TaxRule]:
    lines = [line for line in _RATES_FILE.read_text().splitlines() if line and not line.startswith("#")]
    rules = {}
    for row in csv.DictReader(lines):
        rule = TaxRule(
            country=row["country"],
            region=row["region"],
            rate_ppm=int(row["rate_ppm"]),
            shipping_taxable=row["shipping_taxable"] == "1",
            exempt=frozenset(filter(None, row["exempt"].split(";"))),
        )
        rules[(rule.country, rule.region)] = rule
    return rules


def rule_for(country: str, region: str) -> TaxRule:
    """The rule of a destination; countries we do not collect for get a zero rate."""
    rules = _rules()
    key = (country.upper(), region.upper())
    return rules.get(key) or rules.get((country.upper(), "*")) or TaxRule(country, region, 0, False, frozenset())


def round_ppm(amount: int, rate_ppm: int) -> int:
    """amount x rate / 1e6, rounded half up (away from zero), integer-only so no float can drift."""
    numerator = amount * rate_ppm
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), 1_000_000)
    return sign * (quotient + (1 if remainder * 2 >= 1_000_000 else 0))


def line_tax(*, country: str, region: str, tax_category: str, amount: int) -> int:
    check_tax_category(tax_category)
    rule = rule_for(country, region)
    if tax_category in rule.exempt:
        return 0
    return round_ppm(amount, rule.rate_ppm)


def shipping_tax(*, country: str, region: str, amount: int) -> int:
    rule = rule_for(country, region)
    return round_ppm(amount, rule.rate_ppm) if rule.shipping_taxable else 0
