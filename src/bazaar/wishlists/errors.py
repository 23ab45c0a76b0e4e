"""Wish list errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, NotFound


class NotInWishlist(NotFound):
    """This product is not on your wish list."""

    code = "not_in_wishlist"


class WishlistFull(Conflict):
    """Your wish list is full; remove something first."""

    code = "wishlist_full"
