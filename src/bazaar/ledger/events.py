"""Ledger events: payouts sent and failed (sellers hear of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class PayoutSent(Event):
    topic: ClassVar[str] = "ledger.payout_sent.v1"
    key_field: ClassVar[str] = "seller_id"
    id: str
    seller_id: str
    amount: int
    currency: str
    destination: str


@dataclass(frozen=True)
class PayoutFailed(Event):
    topic: ClassVar[str] = "ledger.payout_failed.v1"
    key_field: ClassVar[str] = "seller_id"
    id: str
    seller_id: str
    amount: int
    currency: str
    reason: str
