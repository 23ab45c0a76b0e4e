"""Disputes schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from bazaar.kernel.schemas import MoneyModel


class DisputeRead(BaseModel):
    id: str
    order_id: str
    status: str
    amount: MoneyModel
    fee: MoneyModel
    reason: str
    evidence: str | None = None
    evidence_at: datetime | None = None
    seller_ids: list[str] = []
    opened_at: datetime
    closed_at: datetime | None = None


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000)
