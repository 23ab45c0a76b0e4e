"""Promotion schemas: a seller's voucher, a code a buyer applies, and a discount as carts, quotes and orders show it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bazaar.kernel.schemas import WHOLE, MoneyModel, WholeNumber

CODE_PATTERN = r"^[A-Za-z0-9_-]{3,40}$"
MAX_FIXED = 100_000_00  # a voucher takes at most $100,000 off
MAX_USES = 10_000_000


class VoucherCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    kind: Literal["percent", "fixed"]
    value: WholeNumber | MoneyModel = Field(description="percent: 1..100; fixed: money (or minor units)")
    min_subtotal: MoneyModel | None = None
    max_uses: Annotated[int, Field(ge=1, le=MAX_USES), WHOLE] | None = None
    max_uses_per_buyer: Annotated[int, Field(ge=1, le=MAX_USES), WHOLE] | None = None
    starts_at: datetime
    ends_at: datetime

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    def amount(self) -> int:
        return self.value.amount if isinstance(self.value, MoneyModel) else self.value


class VoucherRead(BaseModel):
    id: str
    seller_id: str
    code: str
    kind: Literal["percent", "fixed"]
    value: int
    min_subtotal: MoneyModel
    max_uses: int | None
    max_uses_per_buyer: int | None
    uses: int
    starts_at: datetime
    ends_at: datetime
    status: Literal["active", "disabled"]
    created_at: datetime


class VoucherApply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)


class DiscountRead(BaseModel):
    code: str
    seller_id: str
    amount: MoneyModel
