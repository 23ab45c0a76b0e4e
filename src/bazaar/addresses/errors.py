"""Address book errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, NotFound


class AddressNotFound(NotFound):
    """No such address in your address book."""

    code = "address_not_found"


class AddressBookFull(Conflict):
    """Your address book is full; delete an address first."""

    code = "address_book_full"
