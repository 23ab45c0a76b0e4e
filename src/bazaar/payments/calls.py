"""How every provider call is made: recorded first, sent under its key, and its answer applied exactly once.

1. record the intended call as a payment_events row under a deterministic idempotency key, and commit;
2. call the PaymentGateway under that key, so a retry, a concurrent duplicate or the reconciler never acts twice;
3. in a new transaction, close the event if it is still open and apply its effect to the payment with a
   conditional UPDATE, so repeated or concurrent calls change the amounts once and never past their limits
   (the CHECK constraints refunded <= captured <= authorized stand behind it).
No transaction or row lock is held across the provider call.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, case, or_, select, type_coerce, update
from sqlalchemy.exc import IntegrityError

from bazaar.db.dialects import PerDialect
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DomainError
from bazaar.kernel.ids import new_id
from bazaar.kernel.money import Money
from bazaar.kernel.payments import (
    PaymentOutcomeUnknown,
    ProviderResult,
    ProviderStatus,
    ProviderUnavailable,
    declined_error,
)
from bazaar.kernel.ports import PaymentGateway
from bazaar.payments.errors import (
    InvalidPaymentAmount,
    PaymentKeyReused,
    PaymentNotFound,
    PaymentStateConflict,
    RefundExceedsCapture,
)
from bazaar.payments.events import PaymentCaptured, PaymentRefunded
from bazaar.payments.models import EventRecord, Payment, PaymentEvent, PaymentRecord
from bazaar.payments.queries import get_payment_row, to_read
from bazaar.payments.schemas import PaymentRead

log = logging.getLogger("bazaar.payments")

UowFactory = Callable[[], UnitOfWork]
P = TypeVar("P", bound=PaymentRecord)
E = TypeVar("E", bound=EventRecord)

# Event outcomes. Not final: the call may still be made (again) under the same key, and a definitive
# answer from the provider always closes the event, whenever it arrives.
OPEN = ("pending", "unknown")  # in flight, or the answer was lost: the provider may have acted
NOT_PERFORMED = ("unavailable", "not_performed")  # the provider surely did not act on this key
NOT_FINAL = OPEN + NOT_PERFORMED
MAX_KEY_LENGTH = 120


_PAYMENTS, _EVENTS = cast(Table, Payment.__table__), cast(Table, PaymentEvent.__table__)


def authorization_key(payment_key: str) -> str:
    return f"{payment_key}:authorize"


def capture_key(payment_key: str) -> str:
    return f"{payment_key}:capture"


def void_key(payment_key: str) -> str:
    return f"{payment_key}:void"


def refund_key(payment_key: str, refund_id: str) -> str:
    return f"{payment_key}:refund:{refund_id}"


# -- step 1: record the intended call ---------------------------------------------------------------


async def open_authorization(
    uow_factory: UowFactory, checkout_id: str, amount: Money, last4: str, key: str
) -> tuple[Payment, PaymentEvent, bool]:
    """The payment and its recorded authorize call, and whether this call just recorded them."""
    for attempt in range(2):
        async with uow_factory() as uow:
            query = select(Payment).where((Payment.idempotency_key == key) | (Payment.checkout_id == checkout_id))
            payment = (await uow.session.execute(query)).scalars().first()
            if payment is not None:
                same = (payment.idempotency_key, payment.checkout_id, payment.amount, payment.currency)
                if same != (key, checkout_id, amount.amount, amount.currency):
                    raise PaymentKeyReused(checkout_id=checkout_id)
                event = await _event_by_key(uow, authorization_key(key))
                # Read again after the event: a concurrent call may have closed it since the first read.
                return (*_detached(uow, await get_payment_row(uow, payment.id), event), False)
            payment = Payment(
                id=new_id(), checkout_id=checkout_id, idempotency_key=key, status="pending",
                currency=amount.currency, amount=amount.amount, card_last4=last4,
            )  # fmt: skip
            event = PaymentEvent(
                payment_id=payment.id, kind="authorize", amount=amount.amount,
                idempotency_key=authorization_key(key), outcome="pending",
            )  # fmt: skip
            uow.session.add_all([payment, event])
            try:
                await uow.flush()
            except IntegrityError:
                if attempt:
                    raise
                continue  # a concurrent call recorded this payment first: use its row
            await uow.commit()
            return (*_detached(uow, payment, event), True)
    raise AssertionError("unreachable")


def open_new_authorization(uow: UnitOfWork, checkout_id: str, amount: Money, last4: str, key: str) -> PaymentEvent:
    """Record a new checkout's payment and its authorize call in the caller's transaction, which commits them
    before the call is made (with the step that priced the checkout). Only for a checkout created in that same
    transaction: nothing can exist under its key yet (a second attempt uses open_authorization)."""
    payment_id = new_id()
    # Written with the commit, the payment before its call (nothing reads them back before).
    uow.insert(_PAYMENTS, {
        "id": payment_id, "checkout_id": checkout_id, "idempotency_key": key, "status": "pending",
        "currency": amount.currency, "amount": amount.amount, "card_last4": last4,
    })  # fmt: skip
    event = PaymentEvent(
        id=new_id(), payment_id=payment_id, kind="authorize", amount=amount.amount,
        idempotency_key=authorization_key(key), outcome="pending",
    )  # fmt: skip
    uow.insert(_EVENTS, {
        "id": event.id, "payment_id": payment_id, "kind": "authorize", "amount": amount.amount,
        "idempotency_key": event.idempotency_key, "outcome": "pending",
    })  # fmt: skip
    return event


async def open_call(
    uow_factory: UowFactory,
    *,
    payment_id: str,
    kind: str,
    key_of: Callable[[str], str],
    amount: Money | None,
    check: Callable[[PaymentRecord, int], None],
) -> tuple[PaymentRecord, EventRecord, bool]:
    """The payment and the recorded call of this kind under its key — an existing one, or a new one if allowed —
    and whether this call just recorded it. Every capture runs it: its statements are built once and answer rows."""
    for attempt in range(2):
        async with uow_factory() as uow:
            payment = await _payment_now(uow, payment_id)
            if amount is not None and amount.currency != payment.currency:
                raise InvalidPaymentAmount(f"the payment is in {payment.currency}")
            amount_minor = amount.amount if amount is not None else payment.authorized_amount
            key = key_of(payment.idempotency_key)
            event = (await uow.fetch(_EVENT_BY_KEY, {"key": key})).one_or_none()
            if event is not None:
                if event.amount != amount_minor:
                    raise PaymentKeyReused(f"this {kind} was already asked for another amount", amount=event.amount)
                # Read again after the event: a concurrent call may have closed it since the first read.
                return await _payment_now(uow, payment_id), event, False
            check(payment, amount_minor)
            opened = {
                "id": new_id(), "payment_id": payment.id, "kind": kind, "amount": amount_minor,
                "idempotency_key": key, "outcome": "pending", "created_at": utcnow(),
            }  # fmt: skip
            event = (await uow.fetch(_OPEN_EVENT, opened)).one_or_none()
            if event is None:  # a concurrent caller recorded the same call first: join it
                if attempt:
                    raise PaymentStateConflict("the call was recorded and then vanished", idempotency_key=key)
                continue
            await uow.commit()
            return payment, event, True
    raise AssertionError("unreachable")


async def _payment_now(uow: UnitOfWork, payment_id: str) -> PaymentRecord:
    payment = (await uow.fetch(_PAYMENT, {"payment": payment_id})).one_or_none()
    if payment is None:
        raise PaymentNotFound(payment_id=payment_id)
    return cast(PaymentRecord, payment)


# Built once (every capture runs them): the payment as it is now, a call by its key, a call recorded unless one is
# under its key already (then nothing is answered).
_PAYMENT = Prepared(select(*_PAYMENTS.c).where(_PAYMENTS.c.id == bindparam("payment")))
_EVENT_BY_KEY = Prepared(select(*_EVENTS.c).where(_EVENTS.c.idempotency_key == bindparam("key")))
_OPEN_EVENT = PerDialect(
    lambda insert: (
        insert(_EVENTS).on_conflict_do_nothing(index_elements=[_EVENTS.c.idempotency_key]).returning(*_EVENTS.c)
    )
).prepared(columns=("id", "payment_id", "kind", "amount", "idempotency_key", "outcome", "created_at"))


def _detached(uow: UnitOfWork, payment: P, event: E) -> tuple[P, E]:
    """Keep the rows readable after their unit of work ends (its closing rollback would expire the session's
    objects; rows an UPDATE answered are plain values already)."""
    for record in (payment, event):
        if isinstance(record, (Payment, PaymentEvent)):
            uow.session.expunge(record)
    return payment, event


async def _event_by_key(uow: UnitOfWork, key: str, *, missing_ok: bool = False) -> PaymentEvent:
    event = (
        await uow.session.execute(select(PaymentEvent).where(PaymentEvent.idempotency_key == key))
    ).scalar_one_or_none()
    if event is None and not missing_ok:
        raise PaymentStateConflict("the payment has no record of this call", idempotency_key=key)
    return event  # type: ignore[return-value]


# -- step 2: make the call ---------------------------------------------------------------------------


async def perform(
    uow_factory: UowFactory,
    gateway: PaymentGateway,
    payment: PaymentRecord,
    event: EventRecord,
    deadline: float | None,
    *,
    ours: bool,
    and_then: Captured | None = None,
) -> PaymentRead:
    """Send a recorded capture, void or refund (again, under its key) unless its answer is already known.
    `and_then`: see `record_outcome`."""
    if event.outcome in NOT_FINAL:
        pid = payment.provider_payment_id or ""
        money = Money(event.amount, payment.currency)
        key = event.idempotency_key
        call: Awaitable[ProviderResult]
        if event.kind == "capture":
            call = gateway.capture(idempotency_key=key, provider_payment_id=pid, amount=money, deadline=deadline)
        elif event.kind == "void":
            call = gateway.void(idempotency_key=key, provider_payment_id=pid, deadline=deadline)
        else:
            call = gateway.refund(idempotency_key=key, provider_payment_id=pid, amount=money, deadline=deadline)
        result = await guarded(uow_factory, event, call, sent_before=not ours and event.outcome in OPEN)
        payment, event = await record_outcome(uow_factory, event.id, result, and_then=and_then)
    return settled(payment, event)


async def guarded(
    uow_factory: UowFactory, event: EventRecord, call: Awaitable[ProviderResult], *, sent_before: bool
) -> ProviderResult:
    """Await the provider; when it gives no answer, write down what that means before raising.

    `sent_before`: the call was recorded by someone else (a concurrent duplicate, a process that died) or
    its answer was lost earlier, so the provider may have acted even if it is unavailable now.
    """
    try:
        return await call
    except ProviderUnavailable as exc:
        if not sent_before and await mark(uow_factory, event, "unavailable"):
            raise
        await mark(uow_factory, event, "unknown")
        raise PaymentOutcomeUnknown(
            idempotency_key=event.idempotency_key, attempts=exc.details.get("attempts")
        ) from exc
    except PaymentOutcomeUnknown:
        await mark(uow_factory, event, "unknown")
        raise


async def mark(uow_factory: UowFactory, event: EventRecord, outcome: str) -> bool:
    """Record that a call got no answer ("unavailable", "unknown") or that lookup found the provider never carried
    it out ("not_performed"). "unavailable" never replaces "unknown": once the provider may have acted, only its
    answer or its lookup settles the call. An authorization surely not made fails the payment."""
    replaceable = ("pending", *NOT_PERFORMED) if outcome == "unavailable" else NOT_FINAL
    async with uow_factory() as uow:
        marked = await uow.session.execute(
            update(PaymentEvent)
            .where(PaymentEvent.id == event.id, PaymentEvent.outcome.in_(replaceable))
            .values(outcome=outcome)
        )
        applied = bool(marked.rowcount)  # type: ignore[attr-defined]
        if applied and event.kind == "authorize" and outcome in NOT_PERFORMED:
            failed = update(Payment).where(Payment.id == event.payment_id, Payment.status == "pending")
            await uow.session.execute(failed.values(status="failed"))
        await uow.commit()
        return applied


# What follows a capture in the transaction that records it (the order moving on): given the payment as captured.
Captured = Callable[[UnitOfWork, PaymentRecord], Awaitable[None]]


async def record_outcome(
    uow_factory: UowFactory, event_id: str, result: ProviderResult, *, and_then: Captured | None = None
) -> tuple[PaymentRecord, EventRecord]:
    """Close the event with the provider's answer and, if this closes it, apply the effect exactly once.

    `and_then` runs in the same transaction when the payment stands captured: what follows the capture is
    recorded with it, or (should it fail) neither is, and the capture is sent again under its key, which the
    provider answers without capturing twice."""
    async with uow_factory() as uow:
        payment, event = await record_outcome_in(uow, event_id, result)
        if and_then is not None and payment.status == "captured":
            await and_then(uow, payment)
        await uow.commit()
        return _detached(uow, payment, event)


# Built once, run on the driver (db/driver.py): every checkout runs them. They answer the rows they changed as
# plain rows (attributes named as the columns); a copy of them the session holds is brought up to date
# (`UnitOfWork.synced`).
# A fixed IN list is written as ORs: an expanding parameter is not run on the driver.
def _one_of(column: Any, values: tuple[str, ...]) -> Any:
    return or_(*(column == value for value in values))


_CLOSE_EVENT = Prepared(
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event"), _one_of(_EVENTS.c.outcome, NOT_FINAL))
    .values(outcome=bindparam("answer"), provider_reference=bindparam("reference"), error_code=bindparam("error"))
    .returning(*_EVENTS.c)
)


# An authorization's answer: "failed" too, since a definitive answer arriving after we had concluded "not
# performed" is the truth. `_answered(approved, payment)`: the UPDATE for the payment whose id `payment` gives.
def _answered(approved: bool, payment: Any) -> Any:
    authorizable = update(_PAYMENTS).where(
        _PAYMENTS.c.id == payment, _one_of(_PAYMENTS.c.status, ("pending", "failed"))
    )
    if approved:
        authorizable = authorizable.values(
            status="authorized",
            authorized_amount=bindparam("authorized"),
            provider_payment_id=bindparam("provider_id"),
            updated_at=bindparam("now"),
        )
    else:
        authorizable = authorizable.values(status="failed", updated_at=bindparam("now"))
    return authorizable.returning(*_PAYMENTS.c)


_AUTHORIZED, _REFUSED = (Prepared(_answered(approved, bindparam("payment"))) for approved in (True, False))


async def record_outcome_in(
    uow: UnitOfWork, event_id: str, result: ProviderResult
) -> tuple[PaymentRecord, EventRecord]:
    """`record_outcome` in the caller's transaction (the saga records an authorization with its own step). The
    payment and the event are answered as rows with their columns' attributes, or as the session's objects when
    the event was closed already."""
    answer = {
        "event": event_id, "answer": result.status.value, "reference": result.reference, "error": result.error_code,
    }  # fmt: skip
    closed = (await uow.fetch(_CLOSE_EVENT, answer)).one_or_none()
    payment = None
    if closed is not None:
        event = uow.synced(PaymentEvent, closed)
        payment = await _apply(uow, event, result)
    else:  # closed already (a concurrent caller, the reconciler): its answer stands
        event = await uow.session.get_one(PaymentEvent, event_id, populate_existing=True)
    if payment is None:
        payment = await uow.session.get_one(Payment, event.payment_id, populate_existing=True)
    return payment, event


def _closing_and_answering(approved: bool) -> Prepared:
    """An authorization's answer recorded by one statement (PostgreSQL): the event closed as `_CLOSE_EVENT` does and,
    if that closed an authorization's, its payment moved as `_AUTHORIZED` or `_REFUSED` moves it; both rows answered
    side by side, their columns prefixed `event_` and `payment_` (the payment's NULL when it did not fit). Nothing
    answered: the event was closed already. The payment's UPDATE takes the payment's id from the closing part's
    RETURNING, so it moves nothing unless this statement closed the event."""
    closed = _CLOSE_EVENT.statement.cte("closed")
    answered = _answered(approved, select(closed.c.payment_id).where(closed.c.kind == "authorize").scalar_subquery())
    moved = answered.cte("moved")
    return Prepared(
        select(
            # (typed as the tables' columns: a copy of a column that takes its type from a foreign key has none)
            *(type_coerce(closed.c[c.key], c.type).label(f"event_{c.key}") for c in _EVENTS.c),
            *(type_coerce(moved.c[c.key], c.type).label(f"payment_{c.key}") for c in _PAYMENTS.c),
        ).select_from(closed.outerjoin(moved, moved.c.id == closed.c.payment_id))
    )


# Built on first use, not at import: the copy of a column that takes its type from a foreign key (the payment's
# checkout_id) has that type only once the referenced table's model is loaded, which need not have happened yet.
_closing_and_answering_once = functools.cache(_closing_and_answering)


class _Part:
    """One table's columns of a row that answered two (`_closing_and_answering`): as `driver.run`'s rows are read."""

    __slots__ = ("_mapping",)

    def __init__(self, row: Any, prefix: str) -> None:
        values = row._mapping
        self._mapping = {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


async def record_authorization_in(
    uow: UnitOfWork, event_id: str, result: ProviderResult
) -> tuple[PaymentRecord, EventRecord]:
    """`record_outcome_in` for an authorization's answer: one round trip where it makes two on PostgreSQL."""
    if not uow.is_postgres:
        return await record_outcome_in(uow, event_id, result)
    params: dict[str, Any] = {
        "event": event_id, "answer": result.status.value, "reference": result.reference, "error": result.error_code,
        "now": utcnow(),
    }  # fmt: skip
    if result.approved:
        params.update(authorized=result.amount.amount, provider_id=result.provider_payment_id)
    row = (await uow.fetch(_closing_and_answering_once(result.approved), params)).one_or_none()
    if row is None:  # closed already (a concurrent caller, the reconciler): its answer stands
        event = await uow.session.get_one(PaymentEvent, event_id, populate_existing=True)
        return await uow.session.get_one(Payment, event.payment_id, populate_existing=True), event
    event = uow.synced(PaymentEvent, _Part(row, "event_"))
    moved = _Part(row, "payment_")
    if event.kind != "authorize":  # not an authorization after all: its effect as any answer's (none was applied)
        payment = await _apply(uow, event, result)
    elif moved.id is None:
        _does_not_fit(event)
        payment = None
    else:
        payment = uow.synced(Payment, moved)
    if payment is None:
        payment = await uow.session.get_one(Payment, event.payment_id, populate_existing=True)
    return cast(PaymentRecord, payment), event


def _does_not_fit(event: EventRecord) -> None:
    log.error(
        "the provider's answer does not fit our record of the payment",
        extra={"payment_id": event.payment_id, "kind": event.kind, "idempotency_key": event.idempotency_key},
    )


async def _apply(uow: UnitOfWork, event: EventRecord, result: ProviderResult) -> PaymentRecord | None:
    """The payment moved as the provider's answer says; answers it as it now stands (None when it did not fit)."""
    if event.kind == "authorize":
        params: dict[str, Any] = {"payment": event.payment_id, "now": utcnow()}
        if result.approved:
            params.update(authorized=result.amount.amount, provider_id=result.provider_payment_id)
        moved = await uow.fetch(_AUTHORIZED if result.approved else _REFUSED, params)
    elif not result.approved:
        return None
    elif event.kind == "capture":
        moved = await uow.fetch(_CAPTURED, {"payment": event.payment_id, "capture": event.amount, "now": utcnow()})
    else:
        moved = await uow.session.execute(_voided_or_refunded(event).returning(*_PAYMENTS.c))
    row = moved.one_or_none()
    if row is None:
        _does_not_fit(event)
        return None
    payment = uow.synced(Payment, row)
    if event.kind in ("capture", "refund"):
        _announce(uow, event, payment)
    return cast(PaymentRecord, payment)


def _voided_or_refunded(event: EventRecord) -> Any:
    where = update(_PAYMENTS).where(_PAYMENTS.c.id == event.payment_id)
    payments = _PAYMENTS.c
    if event.kind == "void":
        return where.where(payments.status == "authorized").values(status="voided")
    refunded = payments.refunded_amount + event.amount
    return where.where(
        payments.status.in_(("captured", "partially_refunded")), refunded <= payments.captured_amount
    ).values(
        refunded_amount=refunded,
        status=case((refunded == payments.captured_amount, "refunded"), else_="partially_refunded"),
    )


_CAPTURED = Prepared(  # built once: every order's payment is captured
    update(_PAYMENTS)
    .where(
        _PAYMENTS.c.id == bindparam("payment"),
        _PAYMENTS.c.status == "authorized",
        _PAYMENTS.c.authorized_amount >= bindparam("capture"),
    )
    .values(status="captured", captured_amount=bindparam("capture"), updated_at=bindparam("now"))
    .returning(*_PAYMENTS.c)
)


def _announce(uow: UnitOfWork, event: EventRecord, payment: PaymentRecord) -> None:
    """Money that moved, in the same transaction as our record of it (the ledger posts from these)."""
    if payment.order_id is None:
        return
    if event.kind == "capture":
        uow.emit(PaymentCaptured(payment.id, payment.order_id, event.amount, payment.currency))
        return
    refund_id = event.idempotency_key.split(":refund:", 1)[-1]
    uow.emit(PaymentRefunded(payment.id, payment.order_id, event.amount, payment.currency, refund_id))


def settled(payment: PaymentRecord, event: EventRecord) -> PaymentRead:
    """Answer the payment once its call has a final outcome, or raise the refusal that outcome stands for."""
    if event.outcome == ProviderStatus.APPROVED.value:
        return to_read(payment)
    if event.outcome in NOT_PERFORMED:
        raise ProviderUnavailable(idempotency_key=event.idempotency_key, outcome=event.outcome)
    raise _refusal(event)


def _refusal(event: EventRecord) -> DomainError:
    if event.kind == "authorize":
        return declined_error(ProviderStatus(event.outcome), event.error_code)
    if event.error_code == "refund_exceeds_captured":
        return RefundExceedsCapture()
    return PaymentStateConflict(
        f"the provider refused the {event.kind}", reason=event.error_code, idempotency_key=event.idempotency_key
    )
