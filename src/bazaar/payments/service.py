"""Payments use cases: authorize, capture, void, refund and reconcile a payment, and schedule its capture.

Each provider call is recorded before it is made and its answer applied once (see payments/calls.py), with
no transaction held across the call. Policy: one capture per payment (up to the authorized amount), several
refunds up to the captured amount; keys derive from the payment's key, so retries never act twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, or_, select, update

from bazaar.db.dialects import taken_once
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import ValidationFailed
from bazaar.kernel.money import Money
from bazaar.kernel.payments import CardDetails
from bazaar.kernel.ports import PaymentGateway
from bazaar.payments.calls import (
    MAX_KEY_LENGTH,
    OPEN,
    Captured,
    UowFactory,
    authorization_key,
    capture_key,
    guarded,
    mark,
    open_authorization,
    open_call,
    perform,
    record_outcome,
    refund_key,
    settled,
    void_key,
)
from bazaar.payments.errors import InvalidPaymentAmount, PaymentStateConflict, RefundExceedsCapture
from bazaar.payments.models import EventRecord, Payment, PaymentEvent, PaymentRecord
from bazaar.payments.queries import due_for_capture, get_payment_row, payment_read
from bazaar.payments.schemas import PaymentRead

__all__ = [
    "authorization_key",
    "authorize_payment",
    "capture_key",
    "capture_payment",
    "reconcile_payment",
    "refund_key",
    "refund_payment",
    "schedule_capture",
    "void_key",
    "void_payment",
]


async def authorize_payment(
    *,
    uow_factory: UowFactory,
    gateway: PaymentGateway,
    checkout_id: str,
    amount: Money,
    card: CardDetails,
    idempotency_key: str | None = None,
    deadline: float | None = None,
) -> PaymentRead:
    """Authorize `amount` on the card for a checkout (key: `checkout:<checkout_id>` unless given).

    Repeating it never authorizes twice: an authorized payment is answered as it is, a refused one raises
    its refusal again, a pending one asks the provider again under the same key. Raises PaymentDeclined /
    InvalidCard (payment `failed`), ProviderUnavailable (payment `failed`, nothing authorized) or
    PaymentOutcomeUnknown (payment stays `pending`: call reconcile_payment, or void_payment to give up).
    """
    _check_positive(amount)
    key = idempotency_key or f"checkout:{checkout_id}"
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(f"the idempotency key is longer than {MAX_KEY_LENGTH} characters")
    payment: PaymentRecord
    event: EventRecord
    payment, event, ours = await open_authorization(uow_factory, checkout_id, amount, card.last4, key)
    if event.outcome in OPEN:
        call = gateway.authorize(idempotency_key=event.idempotency_key, amount=amount, card=card, deadline=deadline)
        result = await guarded(uow_factory, event, call, sent_before=not ours)
        payment, event = await record_outcome(uow_factory, event.id, result)
    return settled(payment, event)


async def capture_payment(
    *,
    uow_factory: UowFactory,
    gateway: PaymentGateway,
    payment_id: str,
    amount: Money | None = None,
    deadline: float | None = None,
    and_then: Captured | None = None,
) -> PaymentRead:
    """Capture the authorization, all of it unless `amount` is less. Repeated or concurrent calls capture once.
    `and_then(uow, payment)` runs in the transaction that records the capture (the order moving on with it)."""

    def check(payment: PaymentRecord, amount_minor: int) -> None:
        if payment.status != "authorized":
            raise PaymentStateConflict(f"cannot capture a {payment.status} payment", status=payment.status)
        if not 0 < amount_minor <= payment.authorized_amount:
            raise InvalidPaymentAmount("a capture must be positive and at most the authorized amount")

    payment, event, ours = await open_call(
        uow_factory, payment_id=payment_id, kind="capture", key_of=capture_key, amount=amount, check=check
    )
    return await perform(uow_factory, gateway, payment, event, deadline, ours=ours, and_then=and_then)


@dataclass(frozen=True)
class CaptureClaim:
    """A due capture a worker has taken, until `until`."""

    payment_id: str
    order_id: str | None
    until: datetime


async def claim_due_captures(
    *, uow_factory: UowFactory, now: datetime, hold: timedelta, limit: int
) -> list[CaptureClaim]:
    """Up to `limit` due captures, oldest first, taken by the caller until `now + hold`, in one statement.

    Rows another worker is taking at the same moment are skipped (PostgreSQL), and rows it holds are not due, so
    the workers of several nodes each send their own captures instead of every worker sending all of them. A worker
    that dies lets its captures go when the hold ends. Should a capture be sent twice all the same (its hold ended
    while it still waited on the provider), it is carried out once: one key, one capture."""
    until = now + hold
    async with uow_factory() as uow:
        due = select(Payment.id).where(due_for_capture(now)).order_by(Payment.capture_after, Payment.id).limit(limit)
        taken = await uow.session.execute(
            update(Payment)
            .where(Payment.id.in_(taken_once(uow, due)))
            # A worker's hold is not a change of the payment: updated_at stays.
            .values(capture_claimed_until=until, updated_at=Payment.updated_at)
            .returning(Payment.id, Payment.order_id, Payment.capture_after)
            .execution_options(synchronize_session=False)
        )
        rows = sorted(taken.all(), key=lambda row: (row.capture_after, row.id))
        await uow.commit()
    return [CaptureClaim(row.id, row.order_id, until) for row in rows]


async def release_capture_claims(*, uow_factory: UowFactory, claims: list[CaptureClaim]) -> None:
    """Let captures go before their hold ends (they were not carried out this round): any worker's next round
    takes them again. A hold that already ended and was taken by another worker is left to it."""
    if not claims:
        return
    ours = or_(*(and_(Payment.id == c.payment_id, Payment.capture_claimed_until == c.until) for c in claims))
    async with uow_factory() as uow:
        await uow.session.execute(
            update(Payment)
            .where(ours)
            .values(capture_claimed_until=None, updated_at=Payment.updated_at)
            .execution_options(synchronize_session=False)
        )
        await uow.commit()


async def void_payment(
    *, uow_factory: UowFactory, gateway: PaymentGateway, payment_id: str, deadline: float | None = None
) -> PaymentRead:
    """Release an authorization nothing was captured from; repeating it is harmless.

    A `pending` payment (its authorize answer was lost) is reconciled first: if the provider never
    authorized it there is nothing to void and the payment ends `failed`.
    """
    async with uow_factory() as uow:
        status = (await get_payment_row(uow, payment_id)).status
    if status == "pending":
        status = (await reconcile_payment(uow_factory=uow_factory, gateway=gateway, payment_id=payment_id)).status
    if status in ("failed", "voided"):
        async with uow_factory() as uow:
            return await payment_read(uow, await get_payment_row(uow, payment_id))

    def check(payment: PaymentRecord, amount_minor: int) -> None:
        if payment.status != "authorized":
            raise PaymentStateConflict(f"cannot void a {payment.status} payment; refund it", status=payment.status)

    payment, event, ours = await open_call(
        uow_factory, payment_id=payment_id, kind="void", key_of=void_key, amount=None, check=check
    )
    return await perform(uow_factory, gateway, payment, event, deadline, ours=ours)


async def refund_payment(
    *,
    uow_factory: UowFactory,
    gateway: PaymentGateway,
    payment_id: str,
    amount: Money,
    refund_id: str,
    deadline: float | None = None,
) -> PaymentRead:
    """Refund part or all of what was captured. `refund_id` names this refund (a return id, `cancel`, …):
    the same refund_id is refunded once however often it is asked; refunds never exceed the capture in total."""
    _check_positive(amount)

    def check(payment: PaymentRecord, amount_minor: int) -> None:
        if payment.status not in ("captured", "partially_refunded"):
            raise PaymentStateConflict(f"cannot refund a {payment.status} payment", status=payment.status)
        if payment.refunded_amount + amount_minor > payment.captured_amount:
            raise RefundExceedsCapture(
                refundable=payment.captured_amount - payment.refunded_amount, requested=amount_minor
            )

    payment, event, ours = await open_call(
        uow_factory,
        payment_id=payment_id,
        kind="refund",
        key_of=lambda key: refund_key(key, refund_id),
        amount=amount,
        check=check,
    )
    return await perform(uow_factory, gateway, payment, event, deadline, ours=ours)


async def reconcile_payment(
    *, uow_factory: UowFactory, gateway: PaymentGateway, payment_id: str, deadline: float | None = None
) -> PaymentRead:
    """Learn from the provider, by idempotency key, what happened to every call whose answer we do not have,
    and bring the payment up to date. A call the provider never carried out is marked `not_performed`
    (an authorization: the payment ends `failed`). Raises ProviderUnavailable if the provider cannot be asked."""
    async with uow_factory() as uow:
        query = (
            select(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id, PaymentEvent.outcome.in_(OPEN))
            .order_by(PaymentEvent.created_at, PaymentEvent.id)
        )
        events = list((await uow.session.execute(query)).scalars())
        uow.session.expunge_all()
    for event in events:
        result = await gateway.lookup(idempotency_key=event.idempotency_key, deadline=deadline)
        if result is None:
            await mark(uow_factory, event, "not_performed")
        else:
            await record_outcome(uow_factory, event.id, result)
    async with uow_factory() as uow:
        return await payment_read(uow, await get_payment_row(uow, payment_id))


def _check_positive(amount: Money) -> None:
    if amount.amount <= 0:
        raise InvalidPaymentAmount(amount=amount.amount)


_PAYMENTS = cast(Table, Payment.__table__)
_SCHEDULE = Prepared(  # built once, run on the driver: every order runs it
    update(_PAYMENTS)
    .where(_PAYMENTS.c.id == bindparam("payment"), _PAYMENTS.c.status == "authorized")
    .values(order_id=bindparam("order"), capture_after=bindparam("after"), updated_at=bindparam("now"))
    .returning(*_PAYMENTS.c)
)


async def schedule_capture(*, uow: UnitOfWork, payment_id: str, order_id: str, capture_after: datetime) -> None:
    """Tie an authorized payment to its order and say when it may be captured; in the caller's transaction
    (the saga's order_created step), which commits it."""
    params = {"payment": payment_id, "order": order_id, "after": capture_after, "now": utcnow()}
    done = (await uow.fetch(_SCHEDULE, params)).one_or_none()
    if done is None:
        payment = await get_payment_row(uow, payment_id)
        raise PaymentStateConflict(f"cannot schedule the capture of a {payment.status} payment", status=payment.status)
    uow.synced(Payment, done)  # the session's copy of the payment, if it holds one, as written
