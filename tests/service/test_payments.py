"""Payments use cases on both backends: our books follow the provider's, and retries never charge twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bazaar.accounts.models import User
from bazaar.adapters.sandbox_payments import Ledger
from bazaar.bootstrap import Container
from bazaar.checkout.models import Checkout
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import PaymentDeclined
from bazaar.kernel.ids import new_id
from bazaar.kernel.payments import (
    CardDetails,
    InvalidCard,
    Operation,
    PaymentOutcomeUnknown,
    ProviderResult,
    ProviderStatus,
    ProviderUnavailable,
)
from bazaar.payments import calls, queries
from bazaar.payments import service as payments
from bazaar.payments.errors import (
    InvalidPaymentAmount,
    PaymentKeyReused,
    PaymentStateConflict,
    RefundExceedsCapture,
)
from bazaar.payments.models import Payment, PaymentEvent
from bazaar.settings import Settings
from tests.payments_support import (
    DECLINED,
    INSUFFICIENT_FUNDS,
    SERVER_ERROR,
    TIMEOUT_AFTER_AUTHORIZING,
    card,
    usd,
)

# Short enough for the "times out after authorizing" card, long enough for a loaded shared machine.
FAST_PAYMENTS = {
    "payment_call_timeout_seconds": 0.75,
    "payment_deadline_seconds": 1.5,
    "payment_retry_base_seconds": 0.02,
    "payment_sandbox_hang_seconds": 5,
}


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(**FAST_PAYMENTS)  # type: ignore[no-any-return]


def ledger(container: Container) -> Ledger:
    assert container.payment_sandbox is not None
    return container.payment_sandbox.state.ledger  # type: ignore[no-any-return]


async def new_checkout(container: Container, total: int = 5000) -> str:
    async with container.uow() as uow:
        user = User(email=f"{new_id()}@example.com", name="Buyer", password_hash="x")
        uow.session.add(user)
        await uow.flush()
        checkout = Checkout(
            user_id=user.id, idempotency_key=new_id(), request_hash="h", total_amount=total,
            deadline_at=utcnow() + timedelta(seconds=30),
        )  # fmt: skip
        uow.session.add(checkout)
        await uow.commit()
        return checkout.id


async def authorize(container: Container, checkout_id: str, amount: int = 5000, **kw: Any) -> Any:
    return await payments.authorize_payment(
        uow_factory=container.uow,
        gateway=kw.pop("gateway", container.payments),
        checkout_id=checkout_id,
        amount=usd(amount),
        card=kw.pop("card", card()),
        **kw,
    )


async def events(container: Container, payment_id: str) -> list[tuple[str, str, int]]:
    async with container.read_uow() as uow:
        rows = await uow.session.execute(
            select(PaymentEvent.kind, PaymentEvent.outcome, PaymentEvent.amount)
            .where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.created_at, PaymentEvent.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def current(container: Container, payment_id: str) -> Any:
    async with container.read_uow() as uow:
        return await queries.get_payment(uow=uow, payment_id=payment_id)


async def test_authorization_is_recorded_and_a_repeat_authorizes_once(container: Container) -> None:
    checkout_id = await new_checkout(container)
    payment = await authorize(container, checkout_id)
    assert payment.status == "authorized"
    assert payment.authorized.amount == 5000 and payment.captured.amount == 0
    assert payment.card_last4 == "4242" and payment.provider_payment_id
    assert payment.idempotency_key == f"checkout:{checkout_id}"
    again = await authorize(container, checkout_id)
    assert again.id == payment.id and again.status == "authorized"
    assert ledger(container).count_operations("authorize") == 1
    assert await events(container, payment.id) == [("authorize", "approved", 5000)]
    async with container.read_uow() as uow:
        found = await queries.payment_for_checkout(uow=uow, checkout_id=checkout_id)
    assert found is not None and found.id == payment.id


@pytest.mark.parametrize(
    ("number", "error", "code"),
    [
        (DECLINED, PaymentDeclined, "payment_declined"),
        (INSUFFICIENT_FUNDS, PaymentDeclined, "insufficient_funds"),
        ("4242424242424241", InvalidCard, "invalid_card"),
    ],
)
async def test_declines_fail_the_payment_and_are_answered_again_on_repeat(
    container: Container, number: str, error: type[Exception], code: str
) -> None:
    checkout_id = await new_checkout(container)
    with pytest.raises(error) as first:
        await authorize(container, checkout_id, card=card(number))
    assert first.value.code == code  # type: ignore[attr-defined]
    with pytest.raises(error) as second:
        await authorize(container, checkout_id, card=card(number))
    assert second.value.code == code  # type: ignore[attr-defined]
    async with container.read_uow() as uow:
        payment = await queries.payment_for_checkout(uow=uow, checkout_id=checkout_id)
    assert payment is not None and payment.status == "failed" and payment.failure_code == code
    assert payment.authorized.amount == 0
    assert len(await events(container, payment.id)) == 1  # the repeat did not ask the provider again


async def test_provider_failing_until_the_deadline_fails_the_payment(container: Container) -> None:
    checkout_id = await new_checkout(container)
    with pytest.raises(ProviderUnavailable):
        await authorize(container, checkout_id, card=card(SERVER_ERROR))
    async with container.read_uow() as uow:
        payment = await queries.payment_for_checkout(uow=uow, checkout_id=checkout_id)
    assert payment is not None and payment.status == "failed"
    assert payment.failure_code == "payment_provider_unavailable"
    assert await events(container, payment.id) == [("authorize", "unavailable", 5000)]


async def test_lost_authorization_answer_is_reconciled_then_voided(container: Container) -> None:
    checkout_id = await new_checkout(container)
    with pytest.raises(PaymentOutcomeUnknown):
        await authorize(container, checkout_id, card=card(TIMEOUT_AFTER_AUTHORIZING))
    async with container.read_uow() as uow:
        pending = await queries.payment_for_checkout(uow=uow, checkout_id=checkout_id)
    assert pending is not None and pending.status == "pending"
    assert await events(container, pending.id) == [("authorize", "unknown", 5000)]

    truth = await payments.reconcile_payment(
        uow_factory=container.uow, gateway=container.payments, payment_id=pending.id
    )
    assert truth.status == "authorized" and truth.authorized.amount == 5000 and truth.provider_payment_id
    voided = await payments.void_payment(uow_factory=container.uow, gateway=container.payments, payment_id=pending.id)
    assert voided.status == "voided"
    assert ledger(container).payment(truth.provider_payment_id or "")["status"] == "voided"  # type: ignore[index]
    assert ledger(container).count_operations("authorize") == 1


async def test_void_of_a_pending_payment_reconciles_first(container: Container) -> None:
    checkout_id = await new_checkout(container)
    with pytest.raises(PaymentOutcomeUnknown):
        await authorize(container, checkout_id, card=card(TIMEOUT_AFTER_AUTHORIZING))
    async with container.read_uow() as uow:
        pending = await queries.payment_for_checkout(uow=uow, checkout_id=checkout_id)
    assert pending is not None
    voided = await payments.void_payment(uow_factory=container.uow, gateway=container.payments, payment_id=pending.id)
    assert voided.status == "voided"
    assert [e[:2] for e in await events(container, pending.id)] == [("authorize", "approved"), ("void", "approved")]


class LosesOneAnswer:
    """A gateway whose first capture reaches the provider but whose answer is lost on the way back."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lost = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def capture(self, **kw: Any) -> ProviderResult:
        result: ProviderResult = await self.inner.capture(**kw)
        if not self.lost:
            self.lost = True
            raise PaymentOutcomeUnknown(idempotency_key=kw["idempotency_key"])
        return result


async def test_capture_retried_after_a_lost_answer_captures_once(container: Container) -> None:
    payment = await authorize(container, await new_checkout(container))
    flaky = LosesOneAnswer(container.payments)
    with pytest.raises(PaymentOutcomeUnknown):
        await payments.capture_payment(uow_factory=container.uow, gateway=flaky, payment_id=payment.id)
    assert (await current(container, payment.id)).status == "authorized"  # not recorded yet: the answer was lost
    captured = await payments.capture_payment(uow_factory=container.uow, gateway=flaky, payment_id=payment.id)
    again = await payments.capture_payment(uow_factory=container.uow, gateway=flaky, payment_id=payment.id)
    assert captured.status == again.status == "captured"
    assert again.captured.amount == 5000
    assert ledger(container).count_operations("capture") == 1
    assert [e[:2] for e in await events(container, payment.id)] == [("authorize", "approved"), ("capture", "approved")]


async def test_capture_then_refunds_up_to_the_capture(container: Container) -> None:
    payment = await authorize(container, await new_checkout(container), amount=10000)
    kw: dict[str, Any] = {"uow_factory": container.uow, "gateway": container.payments, "payment_id": payment.id}
    with pytest.raises(InvalidPaymentAmount):
        await payments.capture_payment(**kw, amount=usd(10001))
    with pytest.raises(PaymentStateConflict):
        await payments.refund_payment(**kw, amount=usd(100), refund_id="too-early")
    captured = await payments.capture_payment(**kw, amount=usd(8000))
    assert captured.status == "captured" and captured.captured.amount == 8000

    first = await payments.refund_payment(**kw, amount=usd(3000), refund_id="return-1")
    repeat = await payments.refund_payment(**kw, amount=usd(3000), refund_id="return-1")
    assert first.refunded.amount == repeat.refunded.amount == 3000 and first.status == "partially_refunded"
    with pytest.raises(RefundExceedsCapture):
        await payments.refund_payment(**kw, amount=usd(5001), refund_id="return-2")
    with pytest.raises(PaymentKeyReused):
        await payments.refund_payment(**kw, amount=usd(10), refund_id="return-1")
    rest = await payments.refund_payment(**kw, amount=usd(5000), refund_id="return-3")
    assert rest.status == "refunded" and rest.refunded.amount == 8000
    with pytest.raises(PaymentStateConflict):
        await payments.void_payment(**kw)
    assert ledger(container).count_operations("refund") == 2
    assert ledger(container).payment(payment.provider_payment_id)["refunded"] == 8000  # type: ignore[index]


async def test_voided_payment_cannot_be_captured_and_void_repeats_harmlessly(container: Container) -> None:
    payment = await authorize(container, await new_checkout(container))
    kw: dict[str, Any] = {"uow_factory": container.uow, "gateway": container.payments, "payment_id": payment.id}
    assert (await payments.void_payment(**kw)).status == "voided"
    assert (await payments.void_payment(**kw)).status == "voided"
    with pytest.raises(PaymentStateConflict):
        await payments.capture_payment(**kw)
    assert ledger(container).count_operations("void") == 1


async def test_same_key_for_another_amount_is_refused(container: Container) -> None:
    checkout_id = await new_checkout(container)
    await authorize(container, checkout_id, amount=5000)
    with pytest.raises(PaymentKeyReused):
        await authorize(container, checkout_id, amount=5001)
    with pytest.raises(InvalidPaymentAmount):
        await authorize(container, await new_checkout(container), amount=0)


async def test_capture_is_scheduled_with_the_order_and_becomes_due(container: Container) -> None:
    payment = await authorize(container, await new_checkout(container))
    async with container.uow() as uow:
        await payments.schedule_capture(
            uow=uow, payment_id=payment.id, order_id="order-1", capture_after=utcnow() - timedelta(seconds=1)
        )
        await uow.commit()
    async with container.read_uow() as uow:
        due = await queries.payments_due_for_capture(uow=uow, now=utcnow())
    assert due == [(payment.id, "order-1")]
    await payments.capture_payment(uow_factory=container.uow, gateway=container.payments, payment_id=payment.id)
    async with container.read_uow() as uow:
        assert await queries.payments_due_for_capture(uow=uow, now=utcnow()) == []
        assert (await queries.get_payment(uow=uow, payment_id=payment.id)).order_id == "order-1"


async def due_payment(container: Container, order_id: str, *, due_since: timedelta) -> str:
    payment = await authorize(container, await new_checkout(container))
    async with container.uow() as uow:
        await payments.schedule_capture(
            uow=uow, payment_id=payment.id, order_id=order_id, capture_after=utcnow() - due_since
        )
        await uow.commit()
    return payment.id


async def test_a_due_capture_is_held_by_the_worker_that_took_it_until_its_hold_ends(container: Container) -> None:
    older = await due_payment(container, "order-1", due_since=timedelta(seconds=2))
    newer = await due_payment(container, "order-2", due_since=timedelta(seconds=1))
    before = await current(container, older)
    hold = timedelta(seconds=30)
    now = utcnow()
    (first,) = await payments.claim_due_captures(uow_factory=container.uow, now=now, hold=hold, limit=1)
    assert (first.payment_id, first.order_id, first.until) == (older, "order-1", now + hold)  # oldest first
    async with container.read_uow() as uow:
        assert await queries.payments_due_for_capture(uow=uow, now=now) == [(newer, "order-2")]
    (second,) = await payments.claim_due_captures(uow_factory=container.uow, now=now, hold=hold, limit=5)
    assert second.payment_id == newer
    assert await payments.claim_due_captures(uow_factory=container.uow, now=now, hold=hold, limit=5) == []
    after = await current(container, older)
    assert (after.status, after.updated_at) == ("authorized", before.updated_at)  # a hold is not a change

    # Its hold over, a capture is due again and another worker takes it; the first worker's letting go is then
    # nothing to the second's hold.
    later = now + hold
    (again,) = await payments.claim_due_captures(uow_factory=container.uow, now=later, hold=hold, limit=1)
    assert again.payment_id == older and again.until == later + hold
    await payments.release_capture_claims(uow_factory=container.uow, claims=[first])
    assert await payments.claim_due_captures(uow_factory=container.uow, now=later, hold=hold, limit=1) == [
        payments.CaptureClaim(newer, "order-2", later + hold)
    ]
    # Let go by the worker that holds it, it is due at once.
    await payments.release_capture_claims(uow_factory=container.uow, claims=[again])
    async with container.read_uow() as uow:
        assert await queries.payments_due_for_capture(uow=uow, now=later) == [(older, "order-1")]


async def test_a_copy_of_the_payment_held_in_the_transaction_reads_what_the_statements_wrote(
    container: Container,
) -> None:
    """The authorization's answer and the capture schedule are plain statements (on PostgreSQL, run on the driver
    in the open transaction): a copy of the payment and of its event the session holds is set to what they wrote."""
    checkout_id = await new_checkout(container)
    opened, recorded, _ = await calls.open_authorization(
        container.uow, checkout_id, usd(5000), "4242", f"checkout:{checkout_id}"
    )
    payment_id, event_id = opened.id, recorded.id
    approved = await container.payments.authorize(
        idempotency_key=recorded.idempotency_key, amount=usd(5000), card=card(), deadline=None
    )
    async with container.uow() as uow:
        held = await queries.get_payment_row(uow, payment_id)  # begins the transaction: what follows is on the driver
        event = await uow.session.get_one(PaymentEvent, event_id)
        assert (held.status, event.outcome) == ("pending", "pending")
        payment, closed = await calls.record_outcome_in(uow, event_id, approved)
        assert (payment.status, closed.outcome) == ("authorized", "approved")
        assert (held.status, held.authorized_amount, event.outcome) == ("authorized", 5000, "approved")
        await payments.schedule_capture(uow=uow, payment_id=payment_id, order_id="order-9", capture_after=utcnow())
        assert held.order_id == "order-9" and held.capture_after is not None
        assert not uow.session.dirty  # set as read, not as changes to write
        await uow.commit()
    async with container.read_uow() as uow:
        assert (await queries.get_payment(uow=uow, payment_id=payment_id)).order_id == "order-9"


@pytest.mark.parametrize("approves", [True, False], ids=["approved", "declined"])
async def test_an_authorizations_answer_is_recorded_once_with_its_event_and_the_copies_held_agree(
    container: Container, approves: bool
) -> None:
    """`record_authorization_in` (the checkout's way, one statement on PostgreSQL): the event closed and the payment
    moved together, what the session holds of both set to it; recorded again (a racing caller, the reconciler), the
    first answer stands and nothing moves twice; an answer that no longer fits the payment closes only the event."""
    checkout_id = await new_checkout(container)
    opened, recorded, _ = await calls.open_authorization(
        container.uow, checkout_id, usd(5000), "4242", f"checkout:{checkout_id}"
    )
    status = ProviderStatus.APPROVED if approves else ProviderStatus.DECLINED
    answer = ProviderResult(
        Operation.AUTHORIZE, status, recorded.idempotency_key, usd(5000), provider_payment_id="pay_x", reference="op_x"
    )
    async with container.uow() as uow:
        held = await queries.get_payment_row(uow, opened.id)
        event = await uow.session.get_one(PaymentEvent, recorded.id)
        payment, closed = await calls.record_authorization_in(uow, recorded.id, answer)
        expected = ("authorized", 5000, "pay_x") if approves else ("failed", 0, None)
        assert (payment.status, payment.authorized_amount, payment.provider_payment_id) == expected
        assert (closed.outcome, closed.provider_reference, closed.kind) == (status.value, "op_x", "authorize")
        assert (held.status, event.outcome) == (expected[0], status.value)
        assert not uow.session.dirty
        await uow.commit()

    other = ProviderResult(Operation.AUTHORIZE, ProviderStatus.DECLINED, recorded.idempotency_key, usd(5000))
    async with container.uow() as uow:  # the same call answered again, differently: the first answer stands
        payment, closed = await calls.record_authorization_in(uow, recorded.id, other if approves else answer)
        assert (payment.status, closed.outcome) == (expected[0], status.value)
        await uow.commit()

    # An answer for a payment that moved on meanwhile (voided by hand, say): its event closed, the payment left.
    checkout_id = await new_checkout(container)
    opened, recorded, _ = await calls.open_authorization(
        container.uow, checkout_id, usd(5000), "4242", f"checkout:{checkout_id}"
    )
    async with container.uow() as uow:
        await uow.session.execute(update(Payment).where(Payment.id == opened.id).values(status="voided"))
        await uow.commit()
    late = ProviderResult(Operation.AUTHORIZE, status, recorded.idempotency_key, usd(5000), reference="op_late")
    async with container.uow() as uow:
        payment, closed = await calls.record_authorization_in(uow, recorded.id, late)
        assert (payment.status, closed.outcome, closed.provider_reference) == ("voided", status.value, "op_late")
        await uow.commit()


class FailsOnce:
    """A gateway whose first call of one method never reaches the provider: it is down, or the request is lost."""

    def __init__(self, inner: Any, method: str, error: Exception) -> None:
        self.inner = inner
        self.method = method
        self.error: Exception | None = error

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        async def once(**kw: Any) -> Any:
            if self.error is not None:
                error, self.error = self.error, None
                raise error
            return await real(**kw)

        return once


async def test_capture_after_the_provider_was_down_is_sent_again_under_its_key(container: Container) -> None:
    payment = await authorize(container, await new_checkout(container))
    gateway = FailsOnce(container.payments, "capture", ProviderUnavailable())
    kw: dict[str, Any] = {"uow_factory": container.uow, "gateway": gateway, "payment_id": payment.id}
    with pytest.raises(ProviderUnavailable):
        await payments.capture_payment(**kw)
    assert [e[:2] for e in await events(container, payment.id)][-1] == ("capture", "unavailable")
    assert (await payments.capture_payment(**kw)).status == "captured"
    assert [e[:2] for e in await events(container, payment.id)][-1] == ("capture", "approved")
    assert ledger(container).count_operations("capture") == 1


async def test_reconciler_finds_calls_never_performed_and_they_can_be_sent_again(container: Container) -> None:
    payment = await authorize(container, await new_checkout(container))
    gateway = FailsOnce(container.payments, "capture", PaymentOutcomeUnknown())
    kw: dict[str, Any] = {"uow_factory": container.uow, "gateway": gateway, "payment_id": payment.id}
    with pytest.raises(PaymentOutcomeUnknown):
        await payments.capture_payment(**kw)
    async with container.read_uow() as uow:
        waiting = await queries.payments_awaiting_answers(uow=uow, recorded_before=utcnow() + timedelta(seconds=1))
        assert await queries.payments_awaiting_answers(uow=uow, recorded_before=utcnow() - timedelta(hours=1)) == []
    assert waiting == [payment.id]
    reconciled = await payments.reconcile_payment(**kw)
    assert reconciled.status == "authorized"  # the provider never saw the capture
    assert [e[:2] for e in await events(container, payment.id)][-1] == ("capture", "not_performed")
    assert (await payments.capture_payment(**kw)).status == "captured"
    assert ledger(container).count_operations("capture") == 1


async def test_provider_down_after_a_lost_answer_still_leaves_the_outcome_unknown(container: Container) -> None:
    checkout_id = await new_checkout(container)
    with pytest.raises(PaymentOutcomeUnknown):
        await authorize(container, checkout_id, card=card(TIMEOUT_AFTER_AUTHORIZING))
    down = FailsOnce(container.payments, "authorize", ProviderUnavailable())
    with pytest.raises(PaymentOutcomeUnknown):  # not ProviderUnavailable: the first attempt may have authorized
        await authorize(container, checkout_id, card=card(TIMEOUT_AFTER_AUTHORIZING), gateway=down)
    async with container.read_uow() as uow:
        payment = await queries.payment_for_checkout(uow=uow, checkout_id=checkout_id)
    assert payment is not None and payment.status == "pending"
    truth = await payments.reconcile_payment(
        uow_factory=container.uow, gateway=container.payments, payment_id=payment.id
    )
    assert truth.status == "authorized"


# -- concurrency on PostgreSQL, with separate engines (real parallel connections) --------------------


async def test_concurrent_captures_capture_once(container: Container, second_container: Container) -> None:
    payment = await authorize(container, await new_checkout(container))
    results = await asyncio.gather(
        *[
            payments.capture_payment(uow_factory=c.uow, gateway=c.payments, payment_id=payment.id)
            for c in (container, second_container, container, second_container)
        ]
    )
    assert {r.status for r in results} == {"captured"}
    assert (await current(container, payment.id)).captured.amount == 5000
    assert ledger(container).count_operations("capture") == 1
    assert [e[:2] for e in await events(container, payment.id)] == [("authorize", "approved"), ("capture", "approved")]


async def test_concurrent_refunds_never_exceed_the_capture(container: Container, second_container: Container) -> None:
    payment = await authorize(container, await new_checkout(container), amount=1000)
    await payments.capture_payment(uow_factory=container.uow, gateway=container.payments, payment_id=payment.id)
    results = await asyncio.gather(
        *[
            payments.refund_payment(
                uow_factory=c.uow, gateway=c.payments, payment_id=payment.id, amount=usd(600), refund_id=f"r{i}"
            )
            for i, c in enumerate((container, second_container))
        ],
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["PaymentRead", "RefundExceedsCapture"]
    assert (await current(container, payment.id)).refunded.amount == 600
    assert ledger(container).count_operations("refund") == 1


async def test_concurrent_authorizations_of_one_checkout_authorize_once(
    container: Container, second_container: Container
) -> None:
    checkout_id = await new_checkout(container)
    results = await asyncio.gather(*[authorize(c, checkout_id) for c in (container, second_container)])
    assert results[0].id == results[1].id and {r.status for r in results} == {"authorized"}
    assert ledger(container).count_operations("authorize") == 1
    async with container.read_uow() as uow:
        count = (await uow.session.execute(select(func.count()).select_from(Payment))).scalar_one()
    assert count == 1


async def test_workers_taking_due_captures_at_once_each_take_their_own(
    container: Container, second_container: Container
) -> None:
    """Workers of two nodes, two rounds each, claim at the same moment: every due capture is taken, by one."""
    due = {await due_payment(container, f"order-{i}", due_since=timedelta(seconds=1)) for i in range(12)}
    now = utcnow()
    waves = await asyncio.gather(
        *[
            payments.claim_due_captures(uow_factory=c.uow, now=now, hold=timedelta(seconds=30), limit=4)
            for c in (container, second_container, container, second_container)
        ]
    )
    taken = [claim.payment_id for wave in waves for claim in wave]
    assert sorted(taken) == sorted(due)  # none twice, none left


def test_card_details_type_is_the_kernels() -> None:
    assert isinstance(card(), CardDetails)
