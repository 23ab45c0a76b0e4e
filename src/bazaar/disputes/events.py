"""Disputes events: a chargeback opened and decided (the seller and the buyer hear of both)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class DisputeOpened(Event):
    topic: ClassVar[str] = "disputes.dispute_opened.v1"
    key_field: ClassVar[str] = "order_id"
    id: str
    order_id: str
    buyer_id: str
    seller_ids: tuple[str, ...]
    amount: int
    currency: str
    reason: str


@dataclass(frozen=True)
class DisputeClosed(Event):
    topic: ClassVar[str] = "disputes.dispute_closed.v1"
    key_field: ClassVar[str] = "order_id"
    id: str
    order_id: str
    buyer_id: str
    seller_ids: tuple[str, ...]
    outcome: str
    amount: int
    fee: int
    currency: str
