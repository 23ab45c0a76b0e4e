"""What order use cases need from payments, as a Protocol implemented over payments.service."""

from __future__ import annotations

from typing import Protocol


class OrderPayments(Protocol):
    async def settle_cancelled(self, *, order_id: str) -> None:
        """Void the authorization, or refund whatever was captured, of a cancelled order."""
        ...

    async def refund(self, *, order_id: str, amount: int, idempotency_key: str) -> None:
        """Refund `amount` of what was captured for the order; the same key never refunds twice."""
        ...
