"""Inventory errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, NotFound, ValidationFailed


class InsufficientStock(Conflict):
    """Not enough stock is available."""

    code = "insufficient_stock"


class StockBelowHeld(Conflict):
    """The new stock level is below what buyers' checkouts are holding right now."""

    code = "stock_below_held"


class InvalidQuantity(ValidationFailed):
    """The quantity must be a whole number of units within the allowed range."""

    code = "invalid_quantity"


class OfferNotFound(NotFound):
    """No such offer."""

    code = "offer_not_found"


class ReservationNotFound(NotFound):
    """No such reservation."""

    code = "reservation_not_found"


class ReservationExpired(Conflict):
    """The reservation expired; its units went back to stock."""

    code = "reservation_expired"


class ReservationReleased(Conflict):
    """The reservation was released; its units went back to stock."""

    code = "reservation_released"


class ReservationCommitted(Conflict):
    """The reservation was already committed to an order; its units are sold."""

    code = "reservation_committed"


class HoldLimitExceeded(Conflict):
    """You already hold as many units as one buyer may hold at once; buy or release some first."""

    code = "hold_limit_exceeded"
