"""The order state machine allows exactly the transitions of API.md and refuses the rest with 409."""

from __future__ import annotations

import itertools

import pytest

from bazaar.orders.states import STATUSES, TRANSITIONS, IllegalTransition, check_transition

ALLOWED = {
    ("pending", "processing"),
    ("pending", "cancelled"),
    ("processing", "shipped"),
    ("processing", "cancelled"),
    ("shipped", "delivered"),
    ("delivered", "returned"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_every_transition(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition) as refused:
            check_transition(current, target)
        assert refused.value.details == {"current_status": current, "requested_status": target}


def test_terminal_states() -> None:
    assert TRANSITIONS["cancelled"] == TRANSITIONS["returned"] == frozenset()
