"""The order state machine: the one place that allows or refuses a status change."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict

# status -> statuses it may move to
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"processing", "cancelled"}),
    "processing": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset({"returned"}),
    "cancelled": frozenset(),
    "returned": frozenset(),
}
STATUSES = tuple(TRANSITIONS)


class IllegalTransition(Conflict):
    """The order cannot move to that status from where it is."""

    code = "illegal_transition"


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(
            f"an order that is {current} cannot become {target}", current_status=current, requested_status=target
        )
