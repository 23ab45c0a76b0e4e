"""Order errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, ValidationFailed


class NotCancellable(Conflict):
    """This order can no longer be cancelled: something has already shipped."""

    code = "not_cancellable"


class ReturnWindowClosed(Conflict):
    """Returns are accepted within 30 days of delivery."""

    code = "return_window_closed"


class NotReturnable(Conflict):
    """This line cannot be returned in that quantity."""

    code = "not_returnable"


class OneSellerPerReturn(ValidationFailed):
    """A return holds lines of one seller; send one return per seller."""

    code = "one_seller_per_return"


class ReturnNotReceivable(Conflict):
    """This return was already received."""

    code = "return_not_receivable"


class ReturnExceedsOrderLine(Conflict):
    """Receiving this return would take back more units than the line still has out: it is refused, nothing
    is restocked or refunded."""

    code = "return_exceeds_order_line"
