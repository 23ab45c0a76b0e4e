"""Schema pieces shared by every context's API answers: money objects and pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class MoneyModel(BaseModel):
    """Money on the wire: integer minor units and an ISO currency code, never a float."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: int = Field(strict=True)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


def money(amount: int, currency: str = "USD") -> MoneyModel:
    return MoneyModel(amount=amount, currency=currency)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
