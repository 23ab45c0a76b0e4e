"""The ledger's arithmetic: commission rounding and exact splits (the parts always add up)."""

from __future__ import annotations

import random

from bazaar.ledger.allocation import commission, split


def test_commission_rounds_half_up_in_basis_points() -> None:
    assert commission(5000, 1000) == 500
    assert commission(1005, 1000) == 101  # 100.5 -> 101
    assert commission(1004, 1000) == 100
    assert commission(0, 1000) == commission(1000, 0) == 0


def test_split_is_exact_proportional_and_keeps_the_sign() -> None:
    assert split(1000, {"a": 5000, "_tax": 0}) == {"a": 1000, "_tax": 0}
    assert split(100, {"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert split(-100, {"a": 1, "b": 1, "c": 1}) == {"a": -34, "b": -33, "c": -33}
    assert split(7, {"a": 0, "b": 0}) == {"a": 7, "b": 0}
    rng = random.Random(17)
    for _ in range(500):
        weights = {str(i): rng.randint(0, 10_000) for i in range(rng.randint(1, 6))}
        total = rng.randint(-100_000, 100_000)
        parts = split(total, weights)
        assert sum(parts.values()) == total
        whole = sum(weights.values())
        if whole:
            for key, part in parts.items():
                assert abs(part - total * weights[key] / whole) < 1
