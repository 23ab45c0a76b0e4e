"""Disputes errors."""

from __future__ import annotations

from bazaar.kernel.errors import BadRequest, Conflict, NotAuthenticated, NotFound


class InvalidSignature(NotAuthenticated):
    """The webhook's Bazaar-Signature is missing or does not match its body."""

    code = "invalid_signature"


class MalformedWebhook(BadRequest):
    """The webhook body is not a provider event."""

    code = "bad_request"


class DisputeNotFound(NotFound):
    """No such dispute."""

    code = "dispute_not_found"


class DisputeClosed(Conflict):
    """The dispute is already decided."""

    code = "dispute_closed"
