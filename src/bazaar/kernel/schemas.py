"""Schema pieces shared by every context's API answers: money objects and pages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")


def _json_integer(value: Any) -> Any:
    """A JSON Schema integer: 5, or 5.0 (a number with no fraction is an integer there); never "5" or true."""
    if isinstance(value, str | bool):
        raise ValueError("must be a whole number, not a string or a boolean")
    return value


# Every whole number the API takes (quantities, units, ratings, limits, minor units of money): one rule.
WHOLE = BeforeValidator(_json_integer)
WholeNumber = Annotated[int, WHOLE]
# Bounds of an optional one go before the rule, or the document gets pydantic's "ge"/"le" instead of JSON
# Schema's minimum/maximum: `Annotated[int, Field(ge=1, le=5), WHOLE] | None`.


class MoneyModel(BaseModel):
    """Money on the wire: integer minor units and an ISO currency code, never a float."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: WholeNumber
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


def money(amount: int, currency: str = "USD") -> MoneyModel:
    return MoneyModel(amount=amount, currency=currency)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
