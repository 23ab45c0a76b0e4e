"""Accounts errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, Forbidden, NotAuthenticated, NotFound


class EmailTaken(Conflict):
    """An account with this email already exists."""

    code = "email_taken"


class InvalidCredentials(NotAuthenticated):
    """The email or password is wrong."""

    code = "invalid_credentials"


class InvalidToken(NotAuthenticated):
    """The token is missing, expired or revoked; log in again."""

    code = "not_authenticated"


class AlreadySeller(Conflict):
    """This account is already a seller."""

    code = "already_seller"


class SellerSuspended(Forbidden):
    """This seller is suspended by the marketplace and cannot list or change offers."""

    code = "seller_suspended"


class SellerNotFound(NotFound):
    """No such seller."""

    code = "seller_not_found"


class UserNotFound(NotFound):
    """No account has this email."""

    code = "user_not_found"
