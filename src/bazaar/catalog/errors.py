"""Catalog errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, NotFound, ValidationFailed


class ProductNotFound(NotFound):
    """No such product."""

    code = "product_not_found"


class UnknownCategory(ValidationFailed):
    """The category does not exist."""

    code = "unknown_category"


class UnknownSku(ValidationFailed):
    """The SKU does not exist."""

    code = "unknown_sku"


class GtinTaken(Conflict):
    """Another SKU already has this GTIN."""

    code = "gtin_taken"


class OfferExists(Conflict):
    """You already have an offer for this SKU in this condition; change it with PATCH instead."""

    code = "offer_exists"


class InvalidListPrice(ValidationFailed):
    """The list ("was") price must be above the price."""

    code = "invalid_list_price"


class InvalidSale(ValidationFailed):
    """The sale's price or times are not valid."""

    code = "invalid_sale"
