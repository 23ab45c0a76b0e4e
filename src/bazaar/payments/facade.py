"""Payments as the checkout saga and order use cases see them: by checkout or order, with outcomes, not errors.

Implements checkout.ports.CheckoutPayments and orders.ports.OrderPayments over payments.service.
"""

from __future__ import annotations

from sqlalchemy import select

from bazaar.checkout.ports import AuthOutcome, PendingAuthorization
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.errors import DomainError, PaymentDeclined
from bazaar.kernel.money import Money
from bazaar.kernel.payments import (
    CardDetails,
    InvalidCard,
    PaymentOutcomeUnknown,
    ProviderResult,
    ProviderStatus,
    ProviderUnavailable,
)
from bazaar.kernel.ports import PaymentGateway
from bazaar.payments import calls, service
from bazaar.payments.calls import UowFactory
from bazaar.payments.models import Payment, PaymentEvent


class PaymentsFacade:
    def __init__(self, *, uow_factory: UowFactory, gateway: PaymentGateway, deadline: float | None = None) -> None:
        self._uow = uow_factory
        self._gateway = gateway
        self._deadline = deadline

    async def _payment(self, *, checkout_id: str | None = None, order_id: str | None = None) -> Payment | None:
        query = select(Payment).where(
            Payment.checkout_id == checkout_id if checkout_id is not None else Payment.order_id == order_id
        )
        async with self._uow() as uow:
            return (await uow.session.execute(query)).scalar_one_or_none()

    def open_authorization(
        self, uow: UnitOfWork, *, checkout_id: str, amount: int, currency: str, card_last4: str, idempotency_key: str
    ) -> PendingAuthorization:
        money = Money(amount, currency)
        event = calls.open_new_authorization(uow, checkout_id, money, card_last4, idempotency_key)
        return PendingAuthorization(event.payment_id, event.id, event.idempotency_key, amount, currency)

    async def send_authorization(
        self, pending: PendingAuthorization, *, card: CardDetails
    ) -> ProviderResult | AuthOutcome:
        call = self._gateway.authorize(
            idempotency_key=pending.call_key,
            amount=Money(pending.amount, pending.currency),
            card=card,
            deadline=self._deadline,
        )
        event = PaymentEvent(
            id=pending.event_id, payment_id=pending.payment_id, kind="authorize", idempotency_key=pending.call_key
        )  # what `guarded` needs to write down a missing answer
        try:
            return await calls.guarded(self._uow, event, call, sent_before=False)
        except PaymentOutcomeUnknown as exc:
            return AuthOutcome("unknown", pending.payment_id, exc.message)
        except ProviderUnavailable as exc:
            return AuthOutcome("unavailable", pending.payment_id, exc.message)

    async def record_authorization(
        self, uow: UnitOfWork, pending: PendingAuthorization, result: ProviderResult
    ) -> AuthOutcome:
        payment, event = await calls.record_authorization_in(uow, pending.event_id, result)
        if event.outcome == ProviderStatus.APPROVED.value:
            return AuthOutcome("authorized" if payment.status == "authorized" else payment.status, payment.id)
        try:
            calls.settled(payment, event)
        except PaymentDeclined as exc:
            return AuthOutcome(exc.code, payment.id, exc.message)
        except InvalidCard as exc:
            return AuthOutcome("invalid_card", payment.id, exc.message)
        except ProviderUnavailable as exc:
            return AuthOutcome("unavailable", payment.id, exc.message)
        except DomainError as exc:
            return AuthOutcome(exc.code, payment.id, exc.message)
        return AuthOutcome(payment.status, payment.id)

    async def recover(self, *, checkout_id: str, amount: int, currency: str, idempotency_key: str) -> AuthOutcome:
        payment = await self._payment(checkout_id=checkout_id)
        if payment is None:
            return AuthOutcome("not_found")
        status = payment.status
        if status == "pending":
            try:
                status = (
                    await service.reconcile_payment(
                        uow_factory=self._uow, gateway=self._gateway, payment_id=payment.id, deadline=self._deadline
                    )
                ).status
            except (ProviderUnavailable, PaymentOutcomeUnknown):
                return AuthOutcome("unknown", payment.id)
        if status == "authorized":
            return AuthOutcome("authorized", payment.id)
        return AuthOutcome("not_found" if status == "failed" else status, payment.id)

    async def void(self, *, checkout_id: str) -> None:
        """Release the checkout's authorization, if there is one; raises if the provider cannot be reached."""
        payment = await self._payment(checkout_id=checkout_id)
        if payment is not None and payment.status in ("pending", "authorized"):
            await service.void_payment(
                uow_factory=self._uow, gateway=self._gateway, payment_id=payment.id, deadline=self._deadline
            )

    async def settle_cancelled(self, *, order_id: str) -> None:
        payment = await self._payment(order_id=order_id)
        if payment is None:
            return
        if payment.status == "authorized":
            await service.void_payment(
                uow_factory=self._uow, gateway=self._gateway, payment_id=payment.id, deadline=self._deadline
            )
        elif payment.status in ("captured", "partially_refunded") and payment.captured_amount > payment.refunded_amount:
            await service.refund_payment(
                uow_factory=self._uow,
                gateway=self._gateway,
                payment_id=payment.id,
                amount=Money(payment.captured_amount - payment.refunded_amount, payment.currency),
                refund_id="cancel",
                deadline=self._deadline,
            )

    async def refund(self, *, order_id: str, amount: int, idempotency_key: str) -> None:
        payment = await self._payment(order_id=order_id)
        if payment is None or amount <= 0:
            return
        await service.refund_payment(
            uow_factory=self._uow,
            gateway=self._gateway,
            payment_id=payment.id,
            amount=Money(amount, payment.currency),
            refund_id=idempotency_key,
            deadline=self._deadline,
        )
