"""The DomainError tree: every refusal a use case can give, with a stable error code.

Statuses are decided in web/errors.py from the class, never here; `code` is the
snake_case name that clients read, `details` carries machine-readable context.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str | None = None, *, code: str | None = None, **details: Any) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        if code:
            self.code = code
        self.details = details
        super().__init__(self.message)


class BadRequest(DomainError):
    """The request is malformed."""

    code = "bad_request"


class ValidationFailed(DomainError):
    """The request is not valid."""

    code = "validation_error"


class NotAuthenticated(DomainError):
    """You are not logged in."""

    code = "not_authenticated"


class Forbidden(DomainError):
    """You are not allowed to do this."""

    code = "forbidden"


class NotFound(DomainError):
    """Not found."""

    code = "not_found"


class Conflict(DomainError):
    """The request conflicts with the current state."""

    code = "conflict"


class PaymentDeclined(DomainError):
    """The payment was declined."""

    code = "payment_declined"


class RateLimited(DomainError):
    """Too many requests; try again later."""

    code = "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class DependencyUnavailable(DomainError):
    """A service we depend on is not available."""

    code = "dependency_unavailable"
    retry_after = 2  # seconds a client should wait before trying again (the Retry-After of the 503)


class DatabaseBusy(DependencyUnavailable):
    """The database kept breaking up this request's transaction (deadlock or serialization failure); try again."""

    code = "database_busy"
    retry_after = 1
