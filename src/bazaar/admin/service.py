"""Operator use cases: suspend and reinstate sellers, take products down and restore them, refund as a goodwill
gesture. Every action is written to the audit trail in the same transaction as the change it records."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from bazaar.accounts import standing
from bazaar.accounts.schemas import Principal
from bazaar.admin.errors import NotAnOperator, NothingToRefund
from bazaar.admin.events import GoodwillRefundIssued
from bazaar.admin.models import AdminAction, GoodwillRefund
from bazaar.admin.schemas import AdminProductRead, AdminSellerRead, GoodwillRefundRead
from bazaar.catalog import service as catalog
from bazaar.db.uow import UnitOfWork
from bazaar.disputes import queries as disputes
from bazaar.kernel.errors import DomainError, ValidationFailed
from bazaar.kernel.payments import PaymentOutcomeUnknown
from bazaar.kernel.schemas import MoneyModel, money
from bazaar.ledger import service as ledger
from bazaar.ledger.schemas import CommissionRead
from bazaar.orders import queries as orders
from bazaar.orders.ports import OrderPayments
from bazaar.payments import queries as payments

log = logging.getLogger("bazaar.admin")


def require_operator(principal: Principal) -> None:
    if not principal.has_role("admin"):
        raise NotAnOperator()


def audit(
    uow: UnitOfWork, admin: Principal, action: str, target_kind: str, target_id: str, reason: str = "", **details: Any
) -> None:
    uow.session.add(
        AdminAction(
            admin_user_id=admin.user_id,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            reason=reason,
            details=details,
        )
    )


async def suspend_seller(*, uow: UnitOfWork, admin: Principal, seller_id: str, reason: str) -> AdminSellerRead:
    """The seller's offers leave search and buy boxes (through catalog events) and it cannot list; orders
    already placed go on. Suspending a suspended seller changes nothing and records nothing."""
    require_operator(admin)
    if await standing.set_seller_status(uow=uow, seller_id=seller_id, suspended=True, reason=reason):
        hidden = await catalog.set_seller_offers_shown(uow=uow, seller_id=seller_id, shown=False)
        audit(uow, admin, "seller.suspend", "seller", seller_id, reason, offers_hidden=hidden)
    await uow.commit()
    return await _seller(uow, seller_id)


async def reinstate_seller(*, uow: UnitOfWork, admin: Principal, seller_id: str, reason: str) -> AdminSellerRead:
    require_operator(admin)
    if await standing.set_seller_status(uow=uow, seller_id=seller_id, suspended=False, reason=reason or None):
        shown = await catalog.set_seller_offers_shown(uow=uow, seller_id=seller_id, shown=True)
        audit(uow, admin, "seller.reinstate", "seller", seller_id, reason, offers_shown=shown)
    await uow.commit()
    return await _seller(uow, seller_id)


async def _seller(uow: UnitOfWork, seller_id: str) -> AdminSellerRead:
    seller = await standing.get_seller(uow=uow, seller_id=seller_id)
    balance = (await ledger.balances(uow=uow, seller_ids=[seller_id])).get(seller_id, 0)
    open_disputes = (await disputes.open_counts(uow=uow, seller_ids=[seller_id])).get(seller_id, 0)
    return admin_seller(seller, balance, open_disputes)


def admin_seller(seller: Any, balance: int, open_disputes: int) -> AdminSellerRead:
    return AdminSellerRead(
        id=seller.id,
        user_id=seller.user_id,
        display_name=seller.display_name,
        status=seller.status,
        status_reason=seller.status_reason,
        status_changed_at=seller.status_changed_at,
        rating=seller.rating,
        created_at=seller.created_at,
        balance=money(balance),
        open_disputes=open_disputes,
    )


async def take_down_product(
    *, uow: UnitOfWork, admin: Principal, product_id: str, reason: str, restore: bool = False
) -> AdminProductRead:
    """Take a product down (or restore it): its page answers 404 and it leaves search within seconds."""
    require_operator(admin)
    if await catalog.set_product_taken_down(uow=uow, product_id=product_id, taken_down=not restore):
        audit(uow, admin, "product.restore" if restore else "product.takedown", "product", product_id, reason)
    await uow.commit()
    return AdminProductRead(id=product_id, status="active" if restore else "taken_down")


async def refund_order(
    *, uow: UnitOfWork, admin: Principal, payments_port: OrderPayments, order_id: str, amount: MoneyModel, reason: str
) -> GoodwillRefundRead:
    """A goodwill refund of up to what was captured and not yet refunded. Recorded (with the audit row) before
    the provider is called, with no transaction held across the call; the refund's key is its own id, so the
    provider acts once however often it is asked."""
    require_operator(admin)
    order = await orders.get_order_as_operator(uow=uow, order_id=order_id)
    payment = await payments.payment_for_order(uow=uow, order_id=order_id)
    if amount.amount <= 0:
        raise ValidationFailed("a refund must be positive", code="invalid_amount")
    if payment is None or amount.currency != payment.captured.currency:
        raise NothingToRefund("the order has no captured payment in this currency")
    refundable = payment.captured.amount - payment.refunded.amount
    if payment.status not in ("captured", "partially_refunded") or amount.amount > refundable:
        raise NothingToRefund(refundable=refundable, requested=amount.amount)
    refund = GoodwillRefund(
        order_id=order_id, admin_user_id=admin.user_id, amount=amount.amount, currency=amount.currency, reason=reason
    )
    uow.session.add(refund)
    await uow.flush()
    audit(uow, admin, "order.refund", "order", order_id, reason, amount=amount.amount, refund_id=refund.id)
    await uow.commit()
    try:
        await payments_port.refund(order_id=order_id, amount=amount.amount, idempotency_key=f"goodwill:{refund.id}")
    except PaymentOutcomeUnknown:
        raise  # the provider may have refunded: the refund stays pending until its answer is known (see handlers)
    except DomainError as exc:
        await _settle_refund(uow, refund.id, "failed", exc.code)
        raise
    await _settle_refund(uow, refund.id, "refunded", None)
    uow.emit(
        GoodwillRefundIssued(
            id=refund.id, order_id=order_id, user_id=order.buyer_id, amount=amount.amount,
            currency=amount.currency, reason=reason,
        )
    )  # fmt: skip
    await uow.commit()
    return GoodwillRefundRead(
        id=refund.id, order_id=order_id, amount=money(amount.amount, amount.currency), reason=reason,
        status="refunded", created_at=refund.created_at,
    )  # fmt: skip


async def goodwill_refunded(*, uow: UnitOfWork, refund_id: str) -> None:
    """The provider's refund is known to have happened (payments.payment_refunded.v1): in the caller's
    transaction, a refund whose answer was lost becomes `refunded`."""
    await uow.session.execute(
        update(GoodwillRefund)
        .where(GoodwillRefund.id == refund_id, GoodwillRefund.status != "refunded")
        .values(status="refunded", error_code=None)
    )


async def _settle_refund(uow: UnitOfWork, refund_id: str, status: str, error_code: str | None) -> None:
    await uow.session.execute(
        update(GoodwillRefund)
        .where(GoodwillRefund.id == refund_id, GoodwillRefund.status == "pending")
        .values(status=status, error_code=error_code)
    )
    if status == "failed":
        await uow.commit()


async def goodwill_refunds(*, uow: UnitOfWork, order_id: str) -> list[GoodwillRefundRead]:
    rows = await uow.session.execute(
        select(GoodwillRefund).where(GoodwillRefund.order_id == order_id).order_by(GoodwillRefund.created_at)
    )
    return [
        GoodwillRefundRead(
            id=r.id, order_id=r.order_id, amount=money(r.amount, r.currency), reason=r.reason, status=r.status,
            created_at=r.created_at,
        )
        for r in rows.scalars()
    ]  # fmt: skip


async def set_commission(
    *, uow: UnitOfWork, admin: Principal, default_bps: int, categories: dict[str, int]
) -> CommissionRead:
    require_operator(admin)
    before = await ledger.commission_rates(uow=uow)
    rates = await ledger.set_commission(uow=uow, default_bps=default_bps, categories=categories)
    audit(uow, admin, "commission.set", "commission", "rates", "", before=before.model_dump(), after=rates.model_dump())
    await uow.commit()
    return rates
