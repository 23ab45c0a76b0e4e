"""The sandbox's card rules: validation (Luhn, expiry, cvc) and the behaviour of each test card in API.md."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any

APPROVES = "4242424242424242"
DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
SERVER_ERROR = "4000000000000119"
TIMEOUT_AFTER_AUTHORIZING = "4000000000000259"


class CardBehaviour(Enum):
    APPROVE = "approve"
    DECLINE = "decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    SERVER_ERROR = "server_error"
    TIMEOUT_AFTER_AUTHORIZING = "timeout_after_authorizing"


_SPECIAL = {
    DECLINED: CardBehaviour.DECLINE,
    INSUFFICIENT_FUNDS: CardBehaviour.INSUFFICIENT_FUNDS,
    SERVER_ERROR: CardBehaviour.SERVER_ERROR,
    TIMEOUT_AFTER_AUTHORIZING: CardBehaviour.TIMEOUT_AFTER_AUTHORIZING,
}


def behaviour(number: str) -> CardBehaviour:
    """Any other valid card approves, like 4242 4242 4242 4242."""
    return _SPECIAL.get(number, CardBehaviour.APPROVE)


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_problem(card: Any, *, today: date) -> str | None:
    """Why this card cannot be charged at all, or None when it is a well-formed, unexpired card."""
    if not isinstance(card, dict):
        return "card details are missing"
    number, month, year, cvc = card.get("number"), card.get("exp_month"), card.get("exp_year"), card.get("cvc")
    if not isinstance(number, str) or not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        return "the card number is not valid"
    if not isinstance(month, int) or isinstance(month, bool) or not 1 <= month <= 12:
        return "the expiry month is not valid"
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2200:
        return "the expiry year is not valid"
    if (year, month) < (today.year, today.month):
        return "the card has expired"
    if not isinstance(cvc, str) or not cvc.isdigit() or not 3 <= len(cvc) <= 4:
        return "the security code is not valid"
    return None
