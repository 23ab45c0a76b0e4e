"""Payments schemas: our record of a payment, as services answer it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bazaar.kernel.schemas import MoneyModel as MoneyRead


class PaymentRead(BaseModel):
    id: str
    checkout_id: str
    order_id: str | None
    status: str  # pending | authorized | captured | voided | partially_refunded | refunded | failed
    amount: MoneyRead
    authorized: MoneyRead
    captured: MoneyRead
    refunded: MoneyRead
    provider: str
    provider_payment_id: str | None
    idempotency_key: str
    card_last4: str | None
    capture_after: datetime | None
    failure_code: str | None = None  # why an authorization failed: payment_declined, insufficient_funds, …
    created_at: datetime
    updated_at: datetime
