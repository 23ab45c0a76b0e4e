"""The hold-duration and admission policies, as numbers a seller or operator would check by hand."""

from __future__ import annotations

from bazaar.flash_sales.queue import admissions_wanted
from bazaar.inventory.hold_times import MIN_SAMPLES, adaptive_ttl, percentile


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([10, 20, 30, 40, 50], 0.5) == 30
    assert percentile([50, 10, 40, 20, 30], 0.95) == 48
    assert percentile([], 0.95) == 0.0


def test_a_hold_lasts_the_95th_percentile_with_a_margin_within_bounds() -> None:
    quick = [float(s) for s in range(20, 60)]  # buyers take 20-59 s; p95 = 57.05 s
    assert adaptive_ttl(quick, floor=60, ceiling=600) == 102  # ceil(57.05 * 1.25 + 30)
    assert adaptive_ttl(quick[: MIN_SAMPLES - 1], floor=60, ceiling=600) == 600  # too little history: the maximum
    assert adaptive_ttl([1.0] * 50, floor=60, ceiling=600) == 60  # never below the floor
    assert adaptive_ttl([900.0] * 50, floor=60, ceiling=600) == 600  # never above the maximum


def test_admissions_follow_free_units_and_conversion() -> None:
    # 300 free units, buyers take 2 each and all hold: 150 admitted, less those already admitted.
    assert admissions_wanted(units_free=300, outstanding=0, units_per_admission=2, conversion=1.0) == 150
    assert admissions_wanted(units_free=300, outstanding=100, units_per_admission=2, conversion=1.0) == 50
    # Only half of admissions lead to a hold: twice as many are let in.
    assert admissions_wanted(units_free=100, outstanding=0, units_per_admission=1, conversion=0.5) == 200
    # However poor the conversion, at most 5 admissions per free unit, and at most 500 per round.
    assert admissions_wanted(units_free=10, outstanding=0, units_per_admission=1, conversion=0.0) == 50
    assert admissions_wanted(units_free=10_000, outstanding=0, units_per_admission=1, conversion=1.0) == 500
    assert admissions_wanted(units_free=0, outstanding=0, units_per_admission=1, conversion=1.0) == 0
