"""Payments events: money captured and refunded (the sellers' ledger posts from them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class PaymentCaptured(Event):
    topic: ClassVar[str] = "payments.payment_captured.v1"
    key_field: ClassVar[str] = "order_id"
    payment_id: str
    order_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class PaymentRefunded(Event):
    """`refund_id` names the refund (a return id `return:<id>`, `cancel`, `goodwill:<id>`, …)."""

    topic: ClassVar[str] = "payments.payment_refunded.v1"
    key_field: ClassVar[str] = "order_id"
    payment_id: str
    order_id: str
    amount: int
    currency: str
    refund_id: str
