"""Returns: a buyer asks to send delivered lines back within 30 days; the seller receives them and refunds."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select

from bazaar.db.uow import UnitOfWork
from bazaar.inventory import stock
from bazaar.kernel.clock import utcnow
from bazaar.kernel.events import Event
from bazaar.orders.errors import (
    NotReturnable,
    OneSellerPerReturn,
    ReturnExceedsOrderLine,
    ReturnNotReceivable,
    ReturnWindowClosed,
)
from bazaar.orders.events import ReturnReceived, ReturnRequested
from bazaar.orders.models import OrderLine, Return, ReturnLine
from bazaar.orders.ports import OrderPayments
from bazaar.orders.queries import OrderNotFound, buyer_of, return_read
from bazaar.orders.schemas import ReturnLineIn, ReturnRead
from bazaar.orders.service import add_to_directory, change_status, lock_lines, lock_order
from bazaar.shipping.models import Shipment, ShipmentLine

RETURN_WINDOW = timedelta(days=30)


class ReturnNotFound(OrderNotFound):
    """No such return."""


async def _delivered_at(uow: UnitOfWork, user_id: str, line_ids: list[str]) -> dict[str, object]:
    rows = await uow.session.execute(
        select(ShipmentLine.order_line_id, Shipment.delivered_at)
        .join(Shipment, (Shipment.id == ShipmentLine.shipment_id) & (Shipment.user_id == ShipmentLine.user_id))
        .where(ShipmentLine.user_id == user_id, ShipmentLine.order_line_id.in_(line_ids))
    )
    return {line_id: delivered for line_id, delivered in rows}


async def _pending_quantities(uow: UnitOfWork, user_id: str, line_ids: list[str]) -> dict[str, int]:
    rows = await uow.session.execute(
        select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
        .join(Return, (Return.id == ReturnLine.return_id) & (Return.user_id == ReturnLine.user_id))
        .where(ReturnLine.user_id == user_id, ReturnLine.order_line_id.in_(line_ids), Return.status == "requested")
        .group_by(ReturnLine.order_line_id)
    )
    return {line_id: int(q) for line_id, q in rows}


async def request_return(
    *, uow: UnitOfWork, order_id: str, user_id: str, lines: list[ReturnLineIn], reason: str
) -> ReturnRead:
    # Locked: parallel requests for the same lines queue here, and each then sees the returns before it.
    order = await lock_order(uow, order_id, user_id)
    if order is None:
        raise OrderNotFound()
    wanted: dict[str, int] = defaultdict(int)
    for item in lines:
        wanted[item.order_line_id] += item.quantity
    order_lines = {li.id: li for li in await lock_lines(uow, order_id, user_id, list(wanted))}
    missing = sorted(set(wanted) - set(order_lines))
    if missing:
        raise NotReturnable("these lines are not part of this order", order_line_ids=missing)
    if len({li.seller_id for li in order_lines.values()}) > 1:
        raise OneSellerPerReturn()
    delivered = await _delivered_at(uow, user_id, list(wanted))
    pending = await _pending_quantities(uow, user_id, list(wanted))
    now = utcnow()
    for line_id, quantity in wanted.items():
        line, at = order_lines[line_id], delivered.get(line_id)
        if at is None:
            raise NotReturnable("only delivered items can be returned", order_line_id=line_id)
        if now - at > RETURN_WINDOW:  # type: ignore[operator]
            raise ReturnWindowClosed(order_line_id=line_id, delivered_at=str(at))
        left = line.quantity - line.returned_quantity - pending.get(line_id, 0)
        if quantity > left:
            raise NotReturnable(
                f"only {left} of this line can still be returned", order_line_id=line_id, returnable=left
            )
    seller_id = next(iter(order_lines.values())).seller_id
    ret = Return(order_id=order_id, user_id=user_id, seller_id=seller_id, reason=reason, currency=order.currency)
    uow.session.add(ret)
    await uow.flush()
    add_to_directory(uow, any_id=ret.id, user_id=user_id, order_id=order_id)
    for line_id, quantity in wanted.items():
        uow.session.add(ReturnLine(return_id=ret.id, order_line_id=line_id, user_id=user_id, quantity=quantity))
    uow.emit(ReturnRequested(id=ret.id, order_id=order_id, user_id=user_id, seller_id=seller_id))
    await uow.commit()
    return await return_read(uow, ret)


def refund_for(line: OrderLine, quantity: int) -> int:
    """Returned units refund what was paid for them: their price less their share of the line's voucher discount,
    plus their share of the line's tax. Shares are taken cumulatively (floor of amount x returned / quantity,
    before and after), so a line returned in parts refunds exactly what it cost."""
    before, after = line.returned_quantity, line.returned_quantity + quantity

    def share(amount: int) -> int:
        return (amount * after) // line.quantity - (amount * before) // line.quantity

    return line.unit_price_amount * quantity - share(line.discount_amount) + share(line.tax_amount)


async def receive_return(*, uow: UnitOfWork, payments: OrderPayments, return_id: str, seller_id: str) -> ReturnRead:
    """Restock what came back and refund it; shipping too once the whole order has come back.

    Locks the order, its lines and the return (in that order, as every order path does), so parallel receipts of
    one return, or of returns of the same lines, take each unit back exactly once; the rest answer 409.
    """
    user_id = await buyer_of(uow, return_id)
    ret = None if user_id is None else await uow.session.get(Return, (return_id, user_id))
    if ret is None or user_id is None or ret.seller_id != seller_id:
        raise ReturnNotFound()
    order = await lock_order(uow, ret.order_id, user_id)
    assert order is not None
    all_lines = await lock_lines(uow, order.id, user_id)
    query = (
        select(Return)
        .where(Return.id == return_id, Return.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    ret = (await uow.session.execute(query.with_for_update() if uow.is_postgres else query)).scalar_one()
    if ret.status != "requested":
        raise ReturnNotReceivable(current_status=ret.status)
    returned = {
        rl.order_line_id: rl.quantity
        for rl in (
            await uow.session.execute(
                select(ReturnLine).where(ReturnLine.return_id == return_id, ReturnLine.user_id == user_id)
            )
        ).scalars()
    }
    for line in all_lines:
        quantity = returned.get(line.id, 0)
        if line.returned_quantity + quantity > line.quantity:
            left = line.quantity - line.returned_quantity
            raise ReturnExceedsOrderLine(
                f"only {left} unit(s) of this line are still out", order_line_id=line.id, returnable=left
            )
    refund = 0
    back: list[stock.Restock] = []
    for line in all_lines:
        quantity = returned.get(line.id, 0)
        if quantity:
            refund += refund_for(line, quantity)
            line.returned_quantity += quantity
            back.append(stock.Restock(line.offer_id, line.product_id, quantity))
    await stock.restock(uow=uow, lines=back)
    if all(line.returned_quantity == line.quantity for line in all_lines):
        shipping_tax = order.tax_amount - sum(line.tax_amount for line in all_lines)
        refund += order.shipping_amount + shipping_tax
        await change_status(
            uow=uow,
            order_id=order.id,
            user_id=order.user_id,
            current=order.status,
            target="returned",
            note="everything was returned",
        )
    ret.status, ret.received_at, ret.refund_amount = "received", utcnow(), refund
    event: Event = ReturnReceived(
        id=ret.id,
        order_id=order.id,
        user_id=order.user_id,
        seller_id=seller_id,
        refund_amount=refund,
        currency=ret.currency,
    )
    uow.emit(event)
    await uow.commit()
    await payments.refund(order_id=order.id, amount=refund, idempotency_key=f"return:{ret.id}")
    ret.status = "refunded"
    await uow.commit()
    return await return_read(uow, ret)
