"""Promotion errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, NotFound, ValidationFailed


class VoucherNotFound(NotFound):
    """There is no voucher with this code."""

    code = "voucher_not_found"


class VoucherCodeTaken(Conflict):
    """Another voucher already has this code."""

    code = "voucher_code_taken"


class VoucherNotActive(Conflict):
    """This voucher is not valid now (not started, ended or withdrawn)."""

    code = "voucher_not_active"


class VoucherNotApplicable(ValidationFailed):
    """This voucher does not apply to what is in your cart."""

    code = "voucher_not_applicable"


class VoucherExhausted(Conflict):
    """This voucher has been used as many times as it may be."""

    code = "voucher_exhausted"


class InvalidVoucher(ValidationFailed):
    """The voucher's terms are not valid."""

    code = "invalid_voucher"
