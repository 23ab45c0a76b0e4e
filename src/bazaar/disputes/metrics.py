"""Process-local counters of the payment webhook (every process counts what it answered)."""

from __future__ import annotations

from prometheus_client import Counter

from bazaar.kernel.metrics import DOMAIN_REGISTRY

WEBHOOKS = Counter(
    "bazaar_payment_webhooks",
    "Payment provider webhooks answered, by outcome (applied, duplicate, ignored, bad_signature, malformed)",
    ["outcome"],
    registry=DOMAIN_REGISTRY,
)
