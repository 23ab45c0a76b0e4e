"""What the checkout saga needs from payments, as a small Protocol (implemented over payments.service)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bazaar.db.uow import UnitOfWork
from bazaar.kernel.payments import CardDetails, ProviderResult


@dataclass(frozen=True)
class AuthOutcome:
    """authorized | payment_declined | insufficient_funds | invalid_card | unavailable | unknown | not_found"""

    status: str
    payment_id: str | None = None
    message: str = ""


@dataclass(frozen=True)
class PendingAuthorization:
    """An authorization recorded (payment pending, its call under its key) but not yet sent."""

    payment_id: str
    event_id: str
    call_key: str  # the provider call's idempotency key
    amount: int
    currency: str


class CheckoutPayments(Protocol):
    """A new checkout's authorization in three moves, so the saga persists each with its own step:
    `open_authorization` in the transaction that prices the checkout, `send_authorization` with no transaction
    open, `record_authorization` in the transaction that records the step `payment_authorized`."""

    def open_authorization(
        self, uow: UnitOfWork, *, checkout_id: str, amount: int, currency: str, card_last4: str, idempotency_key: str
    ) -> PendingAuthorization: ...

    async def send_authorization(
        self, pending: PendingAuthorization, *, card: CardDetails
    ) -> ProviderResult | AuthOutcome:
        """The provider's answer, or (no answer) an outcome `unavailable` / `unknown`, already recorded."""
        ...

    async def record_authorization(
        self, uow: UnitOfWork, pending: PendingAuthorization, result: ProviderResult
    ) -> AuthOutcome: ...

    async def recover(self, *, checkout_id: str, amount: int, currency: str, idempotency_key: str) -> AuthOutcome:
        """Ask the provider what became of an authorization whose answer we never recorded."""
        ...

    async def void(self, *, checkout_id: str) -> None:
        """Release the checkout's authorization if it has one; raises while the provider cannot be reached."""
        ...
