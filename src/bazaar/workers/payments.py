"""Payment workers: capture after the fraud-check window, settle cancelled orders, refund received returns,
and finish or undo checkouts stuck past their deadline (the reconciler)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select

from bazaar.bootstrap import Container
from bazaar.checkout import service as checkout_service
from bazaar.checkout.saga import log_step
from bazaar.db.base import CROSS_PARTITION
from bazaar.db.consumers import is_outage
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DomainError
from bazaar.orders.models import Order, Return
from bazaar.orders.queries import order_state
from bazaar.orders.service import change_status
from bazaar.payments import service as payments
from bazaar.payments.models import Payment, PaymentRecord

log = logging.getLogger("bazaar.workers.payments")
BATCH = 50


async def run_reconciler(container: Container) -> int:
    return await checkout_service.reconcile_once(deps=container.saga_deps())


async def run_capture(container: Container) -> int:
    """Capture what is due, then move captured orders to processing; cancelled orders get settled instead.

    Up to `capture_concurrency` captures at once (one on SQLite, a single writer): each waits on the provider for
    most of its time, and a loop of one at a time would do 1 / latency captures a second (10 at 100 ms), fewer than
    a busy node's checkouts. The due captures are claimed before they are sent (payments.service.
    claim_due_captures), so the workers of several nodes share them instead of each sending all of them: a claim
    of up to `capture_concurrency` is made when the last one has been handed out, so what is claimed waits for one
    capture at most before it is sent, and the captures finish one after another, not wave by wave (the consumers
    of their events batch them as they did). What a round could not capture is let go at its end, for the next
    round on any worker; a round that stops for a database outage leaves its claims to end with their hold."""
    settings = container.settings
    at_once = settings.capture_concurrency if container.db.dialect == "postgresql" else 1
    hold = timedelta(seconds=settings.capture_claim_seconds)
    outage = asyncio.Event()
    claimed: asyncio.Queue[payments.CaptureClaim] = asyncio.Queue()
    claiming = asyncio.Lock()
    held: dict[str, payments.CaptureClaim] = {}  # claimed this round and not carried out (yet)
    taken, done, exhausted = 0, 0, False

    async def next_claim() -> payments.CaptureClaim | None:
        nonlocal taken, exhausted
        async with claiming:  # one claim at a time, made when what the last one took has been handed out
            if claimed.empty() and not exhausted and not outage.is_set() and taken < BATCH:
                try:
                    wave = await payments.claim_due_captures(
                        uow_factory=container.uow, now=utcnow(), hold=hold, limit=min(at_once, BATCH - taken)
                    )
                except Exception as exc:
                    exhausted = True  # the other slots do not try the same failing statement again
                    if is_outage(exc):
                        outage.set()
                    raise
                taken += len(wave)
                exhausted = not wave
                for claim in wave:
                    held[claim.payment_id] = claim
                    claimed.put_nowait(claim)
            return None if claimed.empty() or outage.is_set() else claimed.get_nowait()

    async def capture(claim: payments.CaptureClaim) -> bool:
        try:
            return await _capture_one(container, claim.payment_id, claim.order_id)
        except DomainError as exc:  # provider down or a state race: the next round tries again
            log.warning("capture of %s postponed: %s", claim.payment_id, exc.message)
        except Exception as exc:
            if is_outage(exc):  # the round stops; its claims end with their hold
                outage.set()
                raise
            # This payment alone (its order's move failed, and with it the record of its capture): the others
            # are not held up by it; the next round sends it again under its key.
            log.exception("capture of %s failed; it is tried again next round", claim.payment_id)
        return False

    async def slot() -> None:
        nonlocal done
        while (claim := await next_claim()) is not None:
            if await capture(claim):
                done += 1
                if held.get(claim.payment_id) is claim:  # (not a later claim of it, should this one outlast its hold)
                    del held[claim.payment_id]

    try:
        results = await asyncio.gather(*(slot() for _ in range(at_once)), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
    except BaseException:
        if not outage.is_set():  # a failure or a stop: let go of what was not carried out, for the next round
            try:
                await payments.release_capture_claims(uow_factory=container.uow, claims=list(held.values()))
            except Exception:  # what stopped the round is what is raised; the claims end with their hold
                log.exception("letting go of %d claimed captures failed", len(held))
        raise
    await payments.release_capture_claims(uow_factory=container.uow, claims=list(held.values()))
    return done + await _advance_captured_orders(container) + await _settle_cancelled(container)


async def _capture_one(container: Container, payment_id: str, order_id: str | None) -> bool:
    """Capture a due payment and move its order on; answers whether anything was done."""
    if order_id is None:
        return False
    async with container.read_uow() as uow:
        order = await order_state(uow, order_id)
    if order is None:
        return False
    if order.status == "cancelled":
        await container.payments_facade().settle_cancelled(order_id=order.id)
        return True

    async def to_processing(uow: UnitOfWork, payment: PaymentRecord) -> None:
        await _to_processing(uow, order.id, order.user_id, order.checkout_id)

    # The order moves on in the transaction that records the capture (one transaction, not two; a crash between
    # them once left it for `_advance_captured_orders`, which still sweeps captures made before this).
    await payments.capture_payment(
        uow_factory=container.uow, gateway=container.payments, payment_id=payment_id, and_then=to_processing
    )
    return True


async def _mark_processing(container: Container, order_id: str, user_id: str, checkout_id: str) -> bool:
    async with container.uow() as uow:
        moved = await _to_processing(uow, order_id, user_id, checkout_id)
        await uow.commit()
        return moved


async def _to_processing(uow: UnitOfWork, order_id: str, user_id: str, checkout_id: str) -> bool:
    """The order to `processing` if it is still `pending` (the move's own condition: nothing is read first)."""
    moved = await change_status(
        uow=uow, order_id=order_id, user_id=user_id, current="pending", target="processing", note="payment captured"
    )
    if moved:
        log_step(uow, checkout_id, "payment_captured", order_id=order_id)
    return moved


async def _advance_captured_orders(container: Container) -> int:
    """Orders still pending although their payment was captured (a crash between the two steps)."""
    async with container.read_uow() as uow:
        keys = (
            await uow.session.execute(
                select(Order.id, Order.user_id, Order.checkout_id)
                .join(Payment, Payment.order_id == Order.id)
                .where(Order.status == "pending", Payment.status == "captured")
                .limit(BATCH)
                .execution_options(**CROSS_PARTITION)  # a sweep: on separate servers, one per server
            )
        ).all()
    return sum([await _mark_processing(container, *key) for key in keys])


async def _settle_cancelled(container: Container) -> int:
    """Cancelled orders whose money is still held or captured: void or refund it (retried until it works)."""
    async with container.read_uow() as uow:
        ids = list(
            (
                await uow.session.execute(
                    select(Order.id)
                    .join(Payment, Payment.order_id == Order.id)
                    .where(
                        Order.status == "cancelled",
                        (Payment.status == "authorized") | (Payment.captured_amount > Payment.refunded_amount),
                    )
                    .limit(BATCH)
                    .execution_options(**CROSS_PARTITION)
                )
            ).scalars()
        )
    settled = 0
    for order_id in ids:
        try:
            await container.payments_facade().settle_cancelled(order_id=order_id)
            settled += 1
        except DomainError as exc:
            log.warning("settling cancelled order %s postponed: %s", order_id, exc.message)
    return settled


async def run_return_refunds(container: Container) -> int:
    """Returns received whose refund did not go through at the time (the provider was down)."""
    async with container.read_uow() as uow:
        pending = list(
            (
                await uow.session.execute(
                    select(Return.id, Return.user_id, Return.order_id, Return.refund_amount)
                    .where(Return.status == "received")
                    .limit(BATCH)
                    .execution_options(**CROSS_PARTITION)
                )
            ).all()
        )
    done = 0
    for return_id, user_id, order_id, amount in pending:
        try:
            await container.order_payments().refund(
                order_id=order_id, amount=amount, idempotency_key=f"return:{return_id}"
            )
        except DomainError as exc:
            log.warning("refund of return %s postponed: %s", return_id, exc.message)
            continue
        async with container.uow() as uow:
            ret = await uow.session.get(Return, (return_id, user_id))
            if ret is not None and ret.status == "received":
                ret.status = "refunded"
                await uow.commit()
                done += 1
    return done
