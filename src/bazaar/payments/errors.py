"""Payments errors: refusals of our own record keeping (the provider's declines live in kernel.payments)."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, NotFound, ValidationFailed


class PaymentNotFound(NotFound):
    """No such payment."""

    code = "payment_not_found"


class PaymentKeyReused(Conflict):
    """This idempotency key already belongs to a different payment request."""

    code = "idempotency_key_reused"


class InvalidPaymentAmount(ValidationFailed):
    """The amount must be a positive number of minor units, in the payment's currency and within its limits."""

    code = "invalid_amount"


class PaymentStateConflict(Conflict):
    """The payment is not in a state that allows this."""

    code = "payment_state_conflict"


class RefundExceedsCapture(Conflict):
    """Refunds cannot exceed what was captured."""

    code = "refund_exceeds_captured"
