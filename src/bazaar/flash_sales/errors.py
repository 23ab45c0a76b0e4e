"""Flash-sale errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed


class FlashSaleNotFound(NotFound):
    """No such flash sale."""

    code = "flash_sale_not_found"


class TicketNotFound(NotFound):
    """No such ticket in this sale's queue."""

    code = "ticket_not_found"


class InvalidFlashSale(ValidationFailed):
    """The flash sale is not valid."""

    code = "invalid_flash_sale"


class FlashSaleOverlaps(Conflict):
    """The offer already has a flash sale in that window."""

    code = "flash_sale_overlaps"


class FlashSaleNotLive(Conflict):
    """The flash sale is not live: it has not started, or it has ended."""

    code = "flash_sale_not_live"


class FlashSaleSoldOut(Conflict):
    """Every unit of the flash sale is held or sold."""

    code = "flash_sale_sold_out"


class PerBuyerLimitReached(Conflict):
    """You already hold or bought as many units of this flash sale as one buyer may."""

    code = "per_buyer_limit_reached"


class AdmissionRequired(Conflict):
    """This offer is in a live flash sale: join its queue and hold with the admission token."""

    code = "admission_required"


class AdmissionInvalid(Forbidden):
    """The admission token is not valid for this sale and buyer, or its window has passed."""

    code = "admission_invalid"


class FlashSaleNotCancellable(Conflict):
    """The flash sale has already ended."""

    code = "flash_sale_not_cancellable"


class AdmissionExpired(Conflict):
    """Your admission window has passed; join the queue again."""

    code = "admission_expired"
