"""Cart errors."""

from __future__ import annotations

from bazaar.kernel.errors import NotFound


class CartItemNotFound(NotFound):
    """This cart has no such item."""

    code = "cart_item_not_found"
