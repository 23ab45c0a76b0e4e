"""What the checkout saga needs from payments, as a small Protocol (implemented over payments.service)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bazaar.kernel.payments import CardDetails


@dataclass(frozen=True)
class AuthOutcome:
    """authorized | payment_declined | insufficient_funds | invalid_card | unavailable | unknown | not_found"""

    status: str
    payment_id: str | None = None
    message: str = ""


class CheckoutPayments(Protocol):
    async def authorize(
        self, *, checkout_id: str, amount: int, currency: str, card: CardDetails, idempotency_key: str
    ) -> AuthOutcome: ...

    async def recover(self, *, checkout_id: str, amount: int, currency: str, idempotency_key: str) -> AuthOutcome:
        """Ask the provider what became of an authorization whose answer we never recorded."""
        ...

    async def void(self, *, checkout_id: str) -> None:
        """Release the checkout's authorization if it has one; raises while the provider cannot be reached."""
        ...
