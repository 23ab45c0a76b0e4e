"""Admin errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, Forbidden


class NotAnOperator(Forbidden):
    """Only the marketplace's operators can do this."""

    code = "forbidden"


class NothingToRefund(Conflict):
    """The order has no captured payment left to refund."""

    code = "refund_exceeds_captured"
