"""Mail errors."""

from __future__ import annotations

from bazaar.kernel.errors import NotFound, ValidationFailed


class UnknownMailKind(ValidationFailed):
    """There is no such kind of email."""

    code = "unknown_email_kind"


class InvalidUnsubscribeLink(NotFound):
    """This unsubscribe link is not valid; change your email settings in your account instead."""

    code = "invalid_unsubscribe_link"
