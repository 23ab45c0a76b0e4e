"""Inventory counters: reservations made, committed, released and expired (Prometheus)."""

from __future__ import annotations

from prometheus_client import Counter

from bazaar.kernel.metrics import DOMAIN_REGISTRY

RESERVATIONS = Counter(
    "bazaar_reservations_total",
    "Reservations by outcome: made, committed, released, expired (committed/made is the reservation-to-purchase ratio)",
    ["outcome"],
    registry=DOMAIN_REGISTRY,
)
RESERVED_UNITS = Counter(
    "bazaar_reserved_units_total", "Units by reservation outcome", ["outcome"], registry=DOMAIN_REGISTRY
)
SOLD_OUT_FAST_REJECTIONS = Counter(
    "bazaar_reservation_sold_out_fast_rejections_total",
    "Reservation attempts turned away by the sold-out flag without touching the database",
    registry=DOMAIN_REGISTRY,
)

for _outcome in ("made", "committed", "released", "expired"):
    RESERVATIONS.labels(_outcome)
    RESERVED_UNITS.labels(_outcome)


def count(outcome: str, reservations: int, units: int) -> None:
    RESERVATIONS.labels(outcome).inc(reservations)
    RESERVED_UNITS.labels(outcome).inc(units)
