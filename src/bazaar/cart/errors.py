"""Cart errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, NotFound


class CartItemNotFound(NotFound):
    """This cart has no such item."""

    code = "cart_item_not_found"


class CartFull(Conflict):
    """The cart already holds as many different offers as a cart may; check out or remove some first."""

    code = "cart_full"
