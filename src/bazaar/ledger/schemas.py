"""Ledger schemas: balances, entries, payouts and commission rates as the API answers them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from bazaar.kernel.schemas import MoneyModel


class BalanceRead(BaseModel):
    pending: MoneyModel
    available: MoneyModel
    paid_out: MoneyModel


class EntryRead(BaseModel):
    id: str
    kind: str
    amount: MoneyModel
    order_id: str | None
    dispute_id: str | None = None
    payout_id: str | None = None
    created_at: datetime
    available_at: datetime | None


class PayoutRead(BaseModel):
    id: str
    seller_id: str
    amount: MoneyModel
    status: str
    destination: str
    failure_code: str | None = None
    created_at: datetime


class CommissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_bps: int = Field(ge=0, le=10_000)
    categories: dict[str, int] = Field(default_factory=dict, max_length=500)


class CommissionRead(BaseModel):
    default_bps: int
    categories: dict[str, int]


class PayoutDestinationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str = Field(pattern=r"^[0-9]{6,34}$", description="the bank account payouts go to (digits)")


class PayoutRunRead(BaseModel):
    id: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    paid: int
    failed: int
    amount: MoneyModel
