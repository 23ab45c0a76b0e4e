"""Order use cases: placing an order from a finished checkout, and moving it through its states."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select, update

from bazaar.db.uow import UnitOfWork
from bazaar.inventory import stock
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DomainError
from bazaar.kernel.ids import new_id
from bazaar.orders.errors import NotCancellable
from bazaar.orders.events import OrderPlaced, OrderStatusChanged
from bazaar.orders.models import Order, OrderDirectory, OrderLine, OrderStatusHistory, SellerOrder
from bazaar.orders.ports import OrderPayments
from bazaar.orders.queries import OrderNotFound, money_line
from bazaar.orders.states import check_transition

log = logging.getLogger("bazaar.orders")


_ORDERS, _LINES, _HISTORY = (cast(Table, m.__table__) for m in (Order, OrderLine, OrderStatusHistory))
_DIRECTORY, _SELLER_ORDERS = cast(Table, OrderDirectory.__table__), cast(Table, SellerOrder.__table__)


@dataclass(frozen=True)
class NewOrderLine:
    offer_id: str
    sku_id: str
    product_id: str
    seller_id: str
    reservation_id: str | None
    title: str
    quantity: int
    unit_price: int
    tax: int
    discount: int = 0  # this line's share of its seller's voucher


async def place_order(
    *,
    uow: UnitOfWork,
    user_id: str,
    checkout_id: str,
    currency: str,
    lines: list[NewOrderLine],
    shipping_by_seller: dict[str, int],
    subtotal: int,
    shipping: int,
    tax: int,
    shipping_address: dict[str, Any],
    shipping_method: str | None,
    discounts: list[dict[str, Any]] | None = None,
) -> str:
    """Create the order (status pending: payment authorized) in the caller's transaction. `discounts` are the
    sellers' vouchers ({code, seller_id, amount}); each line carries its share, and the total is net of them."""
    discount = sum(int(d["amount"]) for d in discounts or [])
    now = utcnow()
    order_id = new_id()
    total = subtotal - discount + shipping + tax
    # Written with the commit in one statement per table (nothing reads them back in this transaction), in the
    # order their references need: the order, then its lines, history, directory entry and sellers' index.
    uow.insert(_ORDERS, {
        "id": order_id, "user_id": user_id, "checkout_id": checkout_id, "status": "pending", "currency": currency,
        "subtotal_amount": subtotal, "shipping_amount": shipping, "tax_amount": tax, "total_amount": total,
        "discount_amount": discount, "discounts": discounts or None, "shipping_address": shipping_address,
        "shipping_method": shipping_method, "created_at": now, "updated_at": now,
    })  # fmt: skip
    charged: set[str] = set()
    made: list[dict[str, Any]] = []
    for line in lines:
        # A seller's shipment price is carried on that seller's first line.
        line_shipping = 0 if line.seller_id in charged else shipping_by_seller.get(line.seller_id, 0)
        charged.add(line.seller_id)
        made.append({
            "id": new_id(), "order_id": order_id, "user_id": user_id, "offer_id": line.offer_id,
            "sku_id": line.sku_id, "product_id": line.product_id, "seller_id": line.seller_id,
            "reservation_id": line.reservation_id, "title": line.title, "quantity": line.quantity,
            "unit_price_amount": line.unit_price, "shipping_amount": line_shipping, "tax_amount": line.tax,
            "discount_amount": line.discount, "currency": currency, "shipped_quantity": 0, "returned_quantity": 0,
        })  # fmt: skip
    for row in made:
        uow.insert(_LINES, row)
    history = {"id": new_id(), "order_id": order_id, "user_id": user_id, "status": "pending", "note": "order placed"}
    uow.insert(_HISTORY, {**history, "at": now})
    seller_ids = tuple(sorted({li.seller_id for li in lines}))
    uow.insert(_DIRECTORY, {"id": order_id, "user_id": user_id, "order_id": order_id})
    for s in seller_ids:
        uow.insert(_SELLER_ORDERS, {"seller_id": s, "order_id": order_id, "user_id": user_id, "created_at": now})
    uow.emit(
        OrderPlaced(
            id=order_id,
            user_id=user_id,
            seller_ids=seller_ids,
            total_amount=total,
            currency=currency,
            lines=tuple(money_line(li) for li in sorted(made, key=lambda li: li["id"])),  # the order's reads' order
        )
    )
    return order_id


async def change_status(
    *, uow: UnitOfWork, order_id: str, user_id: str, current: str, target: str, note: str | None = None
) -> bool:
    """Move an order from `current` to `target` if it is still `current`; answers whether it moved."""
    check_transition(current, target)
    result = await uow.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.user_id == user_id, Order.status == current)
        .values(status=target)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    uow.session.add(OrderStatusHistory(order_id=order_id, user_id=user_id, status=target, note=note))
    uow.emit(OrderStatusChanged(id=order_id, user_id=user_id, status=target, previous_status=current))
    return True


def add_to_directory(uow: UnitOfWork, *, any_id: str, user_id: str, order_id: str) -> None:
    """Name the buyer of a new shipment or return of this order (orders.queries.buyer_of reads it), in the
    transaction that creates it."""
    uow.session.add(OrderDirectory(id=any_id, user_id=user_id, order_id=order_id))


async def lock_order(uow: UnitOfWork, order_id: str, user_id: str) -> Order | None:
    """The order row, locked for this transaction on PostgreSQL (SQLite's writer lock already serialises)."""
    query = select(Order).where(Order.id == order_id, Order.user_id == user_id)
    if uow.is_postgres:
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def lock_lines(
    uow: UnitOfWork, order_id: str, user_id: str, line_ids: list[str] | None = None
) -> list[OrderLine]:
    """An order's lines (or some of them), locked in id order on PostgreSQL, read afresh.

    Every path that changes a line's shipped or returned quantity, or puts its units back on the shelf, locks
    the order first (`lock_order`), then its lines, then the return it acts on: one order, so no deadlock.
    """
    query = select(OrderLine).where(OrderLine.order_id == order_id, OrderLine.user_id == user_id).order_by(OrderLine.id)
    if line_ids is not None:
        query = query.where(OrderLine.id.in_(line_ids))
    if uow.is_postgres:
        query = query.with_for_update()
    return list((await uow.session.execute(query.execution_options(populate_existing=True))).scalars())


async def cancel_order(*, uow: UnitOfWork, payments: OrderPayments, order_id: str, user_id: str) -> None:
    """Cancel before anything shipped: stock goes back on the shelf, then the payment is voided or refunded."""
    order = await lock_order(uow, order_id, user_id)
    if order is None:
        raise OrderNotFound()
    if order.status == "cancelled":
        await uow.rollback()
    else:
        lines = await lock_lines(uow, order_id, user_id)
        if order.status not in ("pending", "processing") or any(li.shipped_quantity for li in lines):
            raise NotCancellable(current_status=order.status)
        await stock.restock(uow=uow, lines=[stock.Restock(li.offer_id, li.product_id, li.quantity) for li in lines])
        await change_status(
            uow=uow,
            order_id=order_id,
            user_id=user_id,
            current=order.status,
            target="cancelled",
            note="cancelled by the buyer",
        )
        await uow.commit()
    # After the commit, never inside it: the provider call holds no lock. If the provider is down the
    # order stays cancelled and the payment-capture worker settles it on a later round.
    try:
        await payments.settle_cancelled(order_id=order_id)
    except DomainError as exc:
        log.warning("settling cancelled order %s postponed: %s", order_id, exc.message)
