"""Checkout errors: each failed checkout answers one of these, the same way on every replay."""

from __future__ import annotations

from bazaar.kernel.errors import (
    BadRequest,
    Conflict,
    DependencyUnavailable,
    DomainError,
    NotFound,
    PaymentDeclined,
    ValidationFailed,
)
from bazaar.kernel.money import AmountTooLarge
from bazaar.promotions.errors import VoucherExhausted, VoucherNotActive, VoucherNotApplicable


class IdempotencyKeyRequired(BadRequest):
    """Send an Idempotency-Key header so a retried checkout can never order or charge twice."""

    code = "idempotency_key_required"


class IdempotencyKeyInvalid(BadRequest):
    """The Idempotency-Key header is too long."""

    code = "idempotency_key_invalid"


class IdempotencyKeyReused(Conflict):
    """This Idempotency-Key was already used for a different checkout request."""

    code = "idempotency_key_reused"


class IdempotencyKeyInUse(Conflict):
    """A checkout with this Idempotency-Key is still running; retry shortly."""

    code = "idempotency_key_in_use"


class CartEmpty(ValidationFailed):
    """The cart is empty."""

    code = "cart_empty"


class CheckoutInsufficientStock(Conflict):
    """Some items in the cart are no longer available in the quantity asked for."""

    code = "insufficient_stock"


class CheckoutHoldLimitExceeded(Conflict):
    """This order would hold more units than one buyer may hold at once; order fewer, or finish another first."""

    code = "hold_limit_exceeded"


class CheckoutPaymentDeclined(PaymentDeclined):
    """The card was declined."""

    code = "payment_declined"


class CheckoutProviderUnavailable(DependencyUnavailable):
    """The payment provider did not answer in time; nothing was charged and no stock is held."""

    code = "payment_provider_unavailable"


class CheckoutExpired(Conflict):
    """The checkout could not finish in time and was undone; nothing was charged and no stock is held."""

    code = "checkout_expired"


class CheckoutNotFound(NotFound):
    """No such checkout."""

    code = "not_found"


class CheckoutNeedsAdmission(Conflict):
    """An item is in a live flash sale: it is bought through the sale's queue, not from the cart."""

    code = "admission_required"


class NoFlashSaleHold(Conflict):
    """You hold no units of this flash sale (the hold expired, or another checkout already took it)."""

    code = "no_flash_sale_hold"


# failure code recorded on a checkout -> the error its request (and every replay) answers
FAILURES: dict[str, type[DomainError]] = {
    "cart_empty": CartEmpty,
    "insufficient_stock": CheckoutInsufficientStock,
    "hold_limit_exceeded": CheckoutHoldLimitExceeded,
    "amount_too_large": AmountTooLarge,
    "payment_declined": CheckoutPaymentDeclined,
    "insufficient_funds": CheckoutPaymentDeclined,
    "invalid_card": CheckoutPaymentDeclined,
    "payment_provider_unavailable": CheckoutProviderUnavailable,
    "checkout_expired": CheckoutExpired,
    "admission_required": CheckoutNeedsAdmission,
    "no_flash_sale_hold": NoFlashSaleHold,
    "voucher_exhausted": VoucherExhausted,
    "voucher_not_active": VoucherNotActive,
    "voucher_not_applicable": VoucherNotApplicable,
}
