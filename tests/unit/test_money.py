"""Money is integer minor units with a currency; mixing currencies or floats is refused."""

from __future__ import annotations

import pytest

from bazaar.kernel.errors import ValidationFailed
from bazaar.kernel.ids import new_id
from bazaar.kernel.money import Money


def test_arithmetic_and_dict() -> None:
    assert (Money(1999) + Money(1)).as_dict() == {"amount": 2000, "currency": "USD"}
    assert Money(250) * 3 == Money(750)
    assert Money(5) - Money(7) == Money(-2)


def test_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(ValidationFailed):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        Money(1, "EUR") + Money(1, "USD")
    with pytest.raises(ValidationFailed):
        Money(1, "usd")


def test_ids_sort_by_time() -> None:
    a, b = new_id(1_000), new_id(2_000)
    assert len(a) == 26 and a < b
