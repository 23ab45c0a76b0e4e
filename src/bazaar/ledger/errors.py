"""Ledger errors."""

from __future__ import annotations

from bazaar.kernel.errors import ValidationFailed


class InvalidCommission(ValidationFailed):
    """A commission rate is out of range or names an unknown category."""

    code = "invalid_commission"
