"""Money: integer minor units plus an ISO-4217 currency code, never a float."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.kernel.errors import ValidationFailed

# The one bound on money, in minor units: a price, a shipping price, an order's total and what the payment
# provider accepts in one payment. One hundred million dollars; money columns are 64-bit, so sums of a few of
# these never overflow.
MAX_AMOUNT = 100_000_000_00


class AmountTooLarge(ValidationFailed):
    """The amount is larger than the marketplace accepts in one payment."""

    code = "amount_too_large"


def check_amount(amount: int, *, what: str = "amount") -> int:
    """`amount` if within 0..MAX_AMOUNT, else AmountTooLarge (422) naming what it was."""
    if amount > MAX_AMOUNT:
        raise AmountTooLarge(
            f"the {what} ({amount} minor units) is over the maximum of {MAX_AMOUNT}", max_amount=MAX_AMOUNT, what=what
        )
    return amount


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount: int
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise ValidationFailed("money amount must be an integer number of minor units")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValidationFailed(f"invalid currency code {self.currency!r}")

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValidationFailed(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int):
            raise ValidationFailed("money can only be multiplied by an integer")
        return Money(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def as_dict(self) -> dict[str, int | str]:
        return {"amount": self.amount, "currency": self.currency}
