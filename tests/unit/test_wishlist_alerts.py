"""The alert decision: once per change, a cooldown against flicker, price drops against what the buyer saw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bazaar.catalog.schemas import MoneyModel, ProductSummary
from bazaar.mail.sender import SendPolicy, retry_delay
from bazaar.wishlists.alerts import _decide
from bazaar.wishlists.models import ProductWatch

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
COOLDOWN = 6 * HOUR


def product(price: int | None) -> ProductSummary:
    return ProductSummary(
        id="p",
        title="Lamp",
        brand="Lumen",
        in_stock=price is not None,
        price_from=MoneyModel.of(price) if price else None,
    )


def watch(**kw: object) -> ProductWatch:
    values = {"user_id": "u", "product_id": "p", "wished": True, "notify_once": False, "armed": False}
    values.update(kw)
    return ProductWatch(**values)


def test_back_in_stock_once_then_flicker_within_the_cooldown_is_quiet() -> None:
    w = watch(armed=True)
    assert _decide(w, product(2000), T0, COOLDOWN) == "back_in_stock"
    assert _decide(w, product(2000), T0 + HOUR, COOLDOWN) is None  # the same restock told again: nothing
    assert _decide(w, product(None), T0 + 2 * HOUR, COOLDOWN) is None  # sold out: armed again
    assert _decide(w, product(2000), T0 + 3 * HOUR, COOLDOWN) is None  # back within the cooldown: quiet
    assert _decide(w, product(None), T0 + 8 * HOUR, COOLDOWN) is None
    assert _decide(w, product(2000), T0 + 9 * HOUR, COOLDOWN) == "back_in_stock"  # a new change, later


def test_price_drops_are_measured_against_the_lowest_price_shown() -> None:
    w = watch(reference_price_amount=2500)
    assert _decide(w, product(2700), T0, COOLDOWN) is None  # dearer
    assert _decide(w, product(2500), T0, COOLDOWN) is None  # back to what was shown
    assert _decide(w, product(2400), T0, COOLDOWN) == "price_drop"
    assert w.reference_price_amount == 2400
    assert _decide(w, product(2300), T0 + HOUR, COOLDOWN) is None  # within the cooldown: waits
    assert w.reference_price_amount == 2400
    assert _decide(w, product(2300), T0 + 7 * HOUR, COOLDOWN) == "price_drop"  # told at the next look after it


def test_notify_me_only_watches_stock() -> None:
    w = watch(wished=False, notify_once=True, armed=True, reference_price_amount=5000)
    assert _decide(w, product(100), T0, COOLDOWN) == "back_in_stock"
    w2 = watch(wished=False, notify_once=True, armed=False, reference_price_amount=5000)
    assert _decide(w2, product(100), T0, COOLDOWN) is None


def test_mail_retry_backoff_grows_with_jitter_up_to_the_cap() -> None:
    policy = SendPolicy(sender="x@example.com", retry_base_seconds=2, retry_max_seconds=600)
    assert retry_delay(1, policy, rng=lambda: 1.0) == 2
    assert retry_delay(1, policy, rng=lambda: 0.0) == 1
    assert retry_delay(4, policy, rng=lambda: 1.0) == 16
    assert retry_delay(40, policy, rng=lambda: 1.0) == 600
