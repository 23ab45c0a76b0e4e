"""Payments reads: one payment, the payment of a checkout, and the payments due for capture."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select

from bazaar.db.uow import UnitOfWork
from bazaar.payments.errors import PaymentNotFound
from bazaar.payments.models import Payment, PaymentEvent, PaymentRecord
from bazaar.payments.schemas import MoneyRead, PaymentRead

# Why an authorization failed, in the error codes of the API.
_FAILURE_CODES = {
    "declined": "payment_declined",
    "insufficient_funds": "insufficient_funds",
    "invalid_card": "invalid_card",
    "refused": "payment_declined",
    "unavailable": "payment_provider_unavailable",
    "not_performed": "payment_provider_unavailable",
}


def to_read(payment: PaymentRecord, *, failure_code: str | None = None) -> PaymentRead:
    def money(amount: int) -> MoneyRead:
        return MoneyRead(amount=amount, currency=payment.currency)

    return PaymentRead(
        id=payment.id,
        checkout_id=payment.checkout_id,
        order_id=payment.order_id,
        status=payment.status,
        amount=money(payment.amount),
        authorized=money(payment.authorized_amount),
        captured=money(payment.captured_amount),
        refunded=money(payment.refunded_amount),
        provider=payment.provider,
        provider_payment_id=payment.provider_payment_id,
        idempotency_key=payment.idempotency_key,
        card_last4=payment.card_last4,
        capture_after=payment.capture_after,
        failure_code=failure_code,
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


async def get_payment_row(uow: UnitOfWork, payment_id: str) -> Payment:
    payment = await uow.session.get(Payment, payment_id, populate_existing=True)
    if payment is None:
        raise PaymentNotFound(payment_id=payment_id)
    return payment


async def payment_read(uow: UnitOfWork, payment: Payment) -> PaymentRead:
    """The payment as services answer it; a failed one says why its authorization failed."""
    failure = None
    if payment.status == "failed":
        failure = (
            await uow.session.execute(
                select(PaymentEvent.outcome, PaymentEvent.error_code).where(
                    PaymentEvent.payment_id == payment.id, PaymentEvent.kind == "authorize"
                )
            )
        ).first()
    return to_read(payment, failure_code=_FAILURE_CODES.get(failure[0]) if failure else None)


async def get_payment(*, uow: UnitOfWork, payment_id: str) -> PaymentRead:
    return await payment_read(uow, await get_payment_row(uow, payment_id))


async def payment_for_checkout(*, uow: UnitOfWork, checkout_id: str) -> PaymentRead | None:
    payment = (
        await uow.session.execute(select(Payment).where(Payment.checkout_id == checkout_id))
    ).scalar_one_or_none()
    return None if payment is None else await payment_read(uow, payment)


async def payment_for_order(*, uow: UnitOfWork, order_id: str) -> PaymentRead | None:
    payment = (await uow.session.execute(select(Payment).where(Payment.order_id == order_id))).scalars().first()
    return None if payment is None else await payment_read(uow, payment)


def due_for_capture(now: datetime) -> ColumnElement[bool]:
    """An authorized payment whose fraud-check window has passed and that no worker holds (see
    payments.service.claim_due_captures)."""
    return and_(
        Payment.status == "authorized",
        Payment.capture_after.is_not(None),
        Payment.capture_after <= now,
        or_(Payment.capture_claimed_until.is_(None), Payment.capture_claimed_until <= now),
    )


async def payments_due_for_capture(*, uow: UnitOfWork, now: datetime, limit: int = 100) -> list[tuple[str, str | None]]:
    """Payments due for capture and not held by a worker, oldest first, each as (its id, its order's id)."""
    rows = await uow.session.execute(
        select(Payment.id, Payment.order_id)
        .where(due_for_capture(now))
        .order_by(Payment.capture_after, Payment.id)
        .limit(limit)
    )
    return [(payment_id, order_id) for payment_id, order_id in rows]


async def payments_awaiting_answers(*, uow: UnitOfWork, recorded_before: datetime, limit: int = 100) -> list[str]:
    """Ids of payments with a provider call recorded before `recorded_before` whose answer we still do not
    have (in flight when a process died, or lost): the reconciler passes each to reconcile_payment."""
    rows = await uow.session.execute(
        select(PaymentEvent.payment_id)
        .where(PaymentEvent.outcome.in_(("pending", "unknown")), PaymentEvent.created_at < recorded_before)
        .group_by(PaymentEvent.payment_id)
        .order_by(func.min(PaymentEvent.created_at))
        .limit(limit)
    )
    return list(rows.scalars())


async def payment_by_provider_id(*, uow: UnitOfWork, provider_payment_id: str) -> tuple[str, str | None] | None:
    """(our payment id, its order id) for the provider's payment id, or None."""
    row = (
        await uow.session.execute(
            select(Payment.id, Payment.order_id).where(Payment.provider_payment_id == provider_payment_id)
        )
    ).first()
    return None if row is None else (str(row.id), row.order_id)
