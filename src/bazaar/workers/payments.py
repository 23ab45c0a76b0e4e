"""Payment workers: capture after the fraud-check window, settle cancelled orders, refund received returns,
and finish or undo checkouts stuck past their deadline (the reconciler)."""

from __future__ import annotations

import asyncio
import logging

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
from bazaar.payments.queries import payments_due_for_capture

log = logging.getLogger("bazaar.workers.payments")
BATCH = 50


async def run_reconciler(container: Container) -> int:
    return await checkout_service.reconcile_once(deps=container.saga_deps())


async def run_capture(container: Container) -> int:
    """Capture what is due, then move captured orders to processing; cancelled orders get settled instead.

    Up to `capture_concurrency` captures at once (one on SQLite, a single writer): each waits on the provider
    for most of its time, and a loop of one at a time would do 1 / latency captures a second (10 at 100 ms),
    fewer than a busy node's checkouts. Each payment's rows are its own (its calls, its order), so they do not
    wait on one another."""
    async with container.read_uow() as uow:
        due = await payments_due_for_capture(uow=uow, now=utcnow(), limit=BATCH)
    at_once = asyncio.Semaphore(container.settings.capture_concurrency if uow.is_postgres else 1)
    outage = asyncio.Event()

    async def capture(payment_id: str, order_id: str | None) -> bool:
        async with at_once:
            if outage.is_set():  # the database went away: the captures not begun wait for the next round
                return False
            try:
                return await _capture_one(container, payment_id, order_id)
            except DomainError as exc:  # provider down or a state race: the next round tries again
                log.warning("capture of %s postponed: %s", payment_id, exc.message)
            except Exception as exc:
                if is_outage(exc):  # the round stops, and the next one tries again
                    outage.set()
                    raise
                # This payment alone (its order's move failed, and with it the record of its capture): the others
                # are not held up by it; the next round sends it again under its key.
                log.exception("capture of %s failed; it is tried again next round", payment_id)
            return False

    results = await asyncio.gather(*(capture(p, o) for p, o in due), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    done = sum(1 for result in results if result is True)
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
