"""Payments as the checkout saga and order use cases see them: by checkout or order, with outcomes, not errors.

Implements checkout.ports.CheckoutPayments and orders.ports.OrderPayments over payments.service.
"""

from __future__ import annotations

from sqlalchemy import select

from bazaar.checkout.ports import AuthOutcome
from bazaar.kernel.errors import PaymentDeclined
from bazaar.kernel.money import Money
from bazaar.kernel.payments import CardDetails, InvalidCard, PaymentOutcomeUnknown, ProviderUnavailable
from bazaar.kernel.ports import PaymentGateway
from bazaar.payments import service
from bazaar.payments.calls import UowFactory
from bazaar.payments.models import Payment


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

    async def authorize(
        self, *, checkout_id: str, amount: int, currency: str, card: CardDetails, idempotency_key: str
    ) -> AuthOutcome:
        try:
            payment = await service.authorize_payment(
                uow_factory=self._uow,
                gateway=self._gateway,
                checkout_id=checkout_id,
                amount=Money(amount, currency),
                card=card,
                idempotency_key=idempotency_key,
                deadline=self._deadline,
            )
        except PaymentDeclined as exc:
            return AuthOutcome(exc.code, None, exc.message)
        except InvalidCard as exc:
            return AuthOutcome("invalid_card", None, exc.message)
        except PaymentOutcomeUnknown as exc:
            return AuthOutcome("unknown", None, exc.message)
        except ProviderUnavailable as exc:
            return AuthOutcome("unavailable", None, exc.message)
        return AuthOutcome("authorized" if payment.status == "authorized" else payment.status, payment.id)

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
