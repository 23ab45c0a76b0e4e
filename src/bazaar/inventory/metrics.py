"""Inventory counters: reservations made, committed, released and expired (Prometheus)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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


# Adaptive holds (inventory/hold_times.py): measured from the database over the last 7 days at each refresh
# (and at every /metrics scrape), so every process reports the same figures.
TIME_TO_PURCHASE = Histogram(
    "bazaar_reservation_time_to_purchase_seconds",
    "From a hold to its purchase, observed by this process as holds are committed",
    buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900),
    registry=DOMAIN_REGISTRY,
)
CONVERSION_RATE = Gauge(
    "bazaar_reservation_conversion_rate",
    "Holds that became purchases / holds that ended (committed, released or expired), last 7 days",
    registry=DOMAIN_REGISTRY,
)
EXPIRY_RATE = Gauge(
    "bazaar_reservation_expiry_rate", "Holds that expired / holds that ended, last 7 days", registry=DOMAIN_REGISTRY
)
TIME_TO_PURCHASE_QUANTILE = Gauge(
    "bazaar_reservation_time_to_purchase_quantile_seconds",
    "Time from hold to purchase over the last 7 days, by quantile (all processes' purchases)",
    ["quantile"],
    registry=DOMAIN_REGISTRY,
)
HOLD_TTL = Gauge(
    "bazaar_hold_ttl_seconds", "How long a new hold lasts now (overall, without a flash sale)", registry=DOMAIN_REGISTRY
)


def observe_hold_figures(
    *, ttl_seconds: int, conversion: float | None, expiry: float | None, p50: float | None, p95: float | None
) -> None:
    HOLD_TTL.set(ttl_seconds)
    CONVERSION_RATE.set(conversion if conversion is not None else float("nan"))
    EXPIRY_RATE.set(expiry if expiry is not None else float("nan"))
    TIME_TO_PURCHASE_QUANTILE.labels("0.5").set(p50 if p50 is not None else float("nan"))
    TIME_TO_PURCHASE_QUANTILE.labels("0.95").set(p95 if p95 is not None else float("nan"))
