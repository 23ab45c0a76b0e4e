"""Domain metrics: one Prometheus registry for business counters, rendered by /metrics beside HTTP metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

DOMAIN_REGISTRY = CollectorRegistry()
