"""Admin events: what operators did that buyers and sellers hear about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class GoodwillRefundIssued(Event):
    topic: ClassVar[str] = "admin.goodwill_refund_issued.v1"
    key_field: ClassVar[str] = "order_id"
    id: str
    order_id: str
    user_id: str
    amount: int
    currency: str
    reason: str
