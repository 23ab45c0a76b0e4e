"""Payment vocabulary shared by the PaymentGateway port, its adapters and contexts: cards, answers, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bazaar.kernel.errors import Conflict, DependencyUnavailable, PaymentDeclined, ValidationFailed
from bazaar.kernel.money import Money


@dataclass(frozen=True, slots=True)
class CardDetails:
    """A card as the buyer typed it; never stored by us, only its last four digits."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)

    def __repr__(self) -> str:  # card numbers must not reach logs or tracebacks
        return f"CardDetails(number='…{self.last4}', exp_month={self.exp_month}, exp_year={self.exp_year})"

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def as_dict(self) -> dict[str, str | int]:
        return {"number": self.number, "exp_month": self.exp_month, "exp_year": self.exp_year, "cvc": self.cvc}


class ProviderStatus(StrEnum):
    """How the provider answered one call; anything but APPROVED is a definitive refusal."""

    APPROVED = "approved"
    DECLINED = "declined"  # the card issuer said no
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_CARD = "invalid_card"  # bad number, expiry or cvc: nothing was attempted
    REFUSED = "refused"  # not allowed in the payment's state or beyond its amounts; error_code says why


class Operation(StrEnum):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    TRANSFER = "transfer"  # a payout to a seller's bank account


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """The provider's definitive answer to one call (the same answer again when the call is replayed)."""

    operation: Operation
    status: ProviderStatus
    idempotency_key: str
    amount: Money
    provider_payment_id: str | None = None  # the provider's payment (authorization) this call is about
    reference: str | None = None  # the provider's id of this operation (authorization, capture, void, refund)
    payment_status: str | None = None  # the provider's payment after the call: authorized, captured, voided, …
    error_code: str | None = None
    message: str | None = None

    @property
    def approved(self) -> bool:
        return self.status is ProviderStatus.APPROVED


class InvalidCard(ValidationFailed):
    """The card number, expiry date or security code is not valid."""

    code = "invalid_card"


class ProviderUnavailable(DependencyUnavailable):
    """The payment provider kept failing until the deadline; it did not act on the request."""

    code = "payment_provider_unavailable"


class PaymentOutcomeUnknown(DependencyUnavailable):
    """The payment provider did not answer in time and may have acted; ask it by idempotency key before going on."""

    code = "payment_outcome_unknown"


class ProviderKeyReused(Conflict):
    """The provider already saw this idempotency key with a different request."""

    code = "payment_idempotency_key_reused"


class ProviderProtocolError(RuntimeError):
    """The provider answered something this client does not understand: a bug, not a refusal."""


def declined_error(
    status: ProviderStatus, error_code: str | None = None, message: str | None = None
) -> PaymentDeclined | InvalidCard:
    """The DomainError a refused authorization becomes: 402 payment_declined / insufficient_funds, 422 invalid_card."""
    if status is ProviderStatus.INVALID_CARD:
        return InvalidCard(message, reason=error_code)
    code = "insufficient_funds" if status is ProviderStatus.INSUFFICIENT_FUNDS else "payment_declined"
    return PaymentDeclined(message or "the card was declined", code=code, reason=error_code)
