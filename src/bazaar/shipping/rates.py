"""Shipping rates: carriers and services priced by weight and zone, one shipment per seller.

`standard` is the sellers' own listed shipping price, charged once per seller shipment
(combined shipping: the highest listed price among that seller's lines). Faster and
international services are priced from the carrier tables below by weight and zone.
"""

from __future__ import annotations

from dataclasses import dataclass

US_REMOTE = frozenset({"AK", "HI", "PR"})
EUROPE = frozenset(
    "AT BE BG CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK".split()
)


@dataclass(frozen=True)
class Service:
    method: str
    carrier: str
    base: int  # minor units for the first 500 g
    per_500g: int  # each further started 500 g
    days: int


@dataclass(frozen=True)
class ShippingOption:
    method: str
    carrier: str
    amount: int
    estimated_days: int


# zone -> services offered there (standard is handled separately: the sellers' listed price).
TABLE: dict[str, tuple[Service, ...]] = {
    "domestic": (
        Service("expedited", "UPS 2nd Day Air", 1299, 150, 2),
        Service("express", "FedEx Priority Overnight", 2999, 250, 1),
    ),
    "us_remote": (
        Service("expedited", "UPS 2nd Day Air", 2799, 250, 3),
        Service("express", "FedEx Priority Overnight", 4999, 400, 2),
    ),
    "north_america": (
        Service("international", "DHL eCommerce", 1999, 300, 8),
        Service("international_express", "DHL Express", 4499, 600, 3),
    ),
    "europe": (
        Service("international", "DHL eCommerce", 2999, 400, 10),
        Service("international_express", "DHL Express", 5999, 700, 4),
    ),
    "world": (
        Service("international", "DHL eCommerce", 3999, 500, 14),
        Service("international_express", "DHL Express", 7999, 900, 5),
    ),
}
STANDARD_DAYS = {"domestic": 5, "us_remote": 8}
METHODS = ("standard", "expedited", "express", "international", "international_express")


def zone_for(country: str, region: str) -> str:
    if country == "US":
        return "us_remote" if region in US_REMOTE else "domestic"
    if country in {"CA", "MX"}:
        return "north_america"
    return "europe" if country in EUROPE else "world"


def options_for_shipment(*, country: str, region: str, weight_grams: int, listed_amount: int) -> list[ShippingOption]:
    """Every way one seller's parcel can reach the address, cheapest first."""
    zone = zone_for(country, region)
    extra_steps = max(0, (max(weight_grams, 1) - 1) // 500)
    options = []
    if zone in STANDARD_DAYS:
        options.append(ShippingOption("standard", "USPS Ground Advantage", listed_amount, STANDARD_DAYS[zone]))
    for service in TABLE[zone]:
        options.append(
            ShippingOption(service.method, service.carrier, service.base + service.per_500g * extra_steps, service.days)
        )
    return sorted(options, key=lambda o: (o.amount, o.estimated_days))
