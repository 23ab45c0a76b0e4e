"""Order reads: a buyer's orders, a seller's part of orders, and one order as its viewer may see it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, select, tuple_

from bazaar.catalog.queries import product_summaries
from bazaar.db.base import CROSS_PARTITION
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.errors import NotFound
from bazaar.kernel.schemas import Page, money
from bazaar.orders.access import access_token_for, access_token_matches
from bazaar.orders.models import Order, OrderDirectory, OrderLine, OrderStatusHistory, Return, ReturnLine, SellerOrder
from bazaar.orders.schemas import (
    DiscountRead,
    HistoryRead,
    OrderLineRead,
    OrderRead,
    OrderReceipt,
    OrderSummary,
    PaymentSummary,
    ReturnLineRead,
    ReturnRead,
    ShipmentRead,
    TrackingEventRead,
)
from bazaar.payments.models import Payment
from bazaar.shipping.models import Shipment, ShipmentLine, TrackingEvent


class OrderNotFound(NotFound):
    """No such order."""

    code = "not_found"


_DIRECTORY = cast(Table, OrderDirectory.__table__)
_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
# Built once: every capture, and the consumers of every order's events, read an order's buyer and its money.
_BUYER_OF = Prepared(select(_DIRECTORY.c.user_id).where(_DIRECTORY.c.id == bindparam("any_id")))
_THE_ORDER = (_ORDERS.c.id == bindparam("order")) & (_ORDERS.c.user_id == bindparam("buyer"))
# An order and its lines by (id, buyer), every column, built once: a capture reads where its order stands, and the
# consumers of an order's events and its emails read its money and its receipt.
_ORDER_ROW = Prepared(select(*_ORDERS.c).where(_THE_ORDER))
_ORDER_LINES = Prepared(
    select(*_LINES.c)
    .where(_LINES.c.order_id == bindparam("order"), _LINES.c.user_id == bindparam("buyer"))
    .order_by(_LINES.c.id)
)


async def buyer_of(uow: UnitOfWork, any_id: str) -> str | None:
    """The buyer of the order, shipment or return with this id (from the directory), for the paths given an id
    alone: the key every later query of that order carries."""
    return cast(str | None, (await uow.fetch(_BUYER_OF, {"any_id": any_id})).scalar_one_or_none())


@dataclass(frozen=True)
class OrderState:
    id: str
    user_id: str
    status: str
    checkout_id: str


async def order_state(uow: UnitOfWork, order_id: str, buyer_id: str | None = None) -> OrderState | None:
    """Where an order stands (its buyer, status and checkout), read as it is now; None if there is no such order."""
    buyer = buyer_id or await buyer_of(uow, order_id)
    if buyer is None:
        return None
    row = (await uow.fetch(_ORDER_ROW, {"order": order_id, "buyer": buyer})).one_or_none()
    return None if row is None else OrderState(row.id, row.user_id, row.status, row.checkout_id)


async def buyer_for_seller(uow: UnitOfWork, *, seller_id: str, order_id: str) -> str | None:
    """The buyer of this order if it holds lines of this seller (from the sellers' index), else None."""
    query = select(SellerOrder.user_id).where(SellerOrder.seller_id == seller_id, SellerOrder.order_id == order_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def _order(uow: UnitOfWork, order_id: str, user_id: str | None) -> Order | None:
    return None if user_id is None else await uow.session.get(Order, (order_id, user_id))


async def _lines(uow: UnitOfWork, order: Order) -> list[OrderLine]:
    query = select(OrderLine).where(OrderLine.order_id == order.id, OrderLine.user_id == order.user_id)
    return list((await uow.session.execute(query.order_by(OrderLine.id))).scalars())


async def guest_access_token(*, uow: UnitOfWork, order_id: str, secret: str, user_id: str | None = None) -> str:
    """The token of a guest's link to this order (see orders.access)."""
    order = await _order(uow, order_id, user_id or await buyer_of(uow, order_id))
    if order is None:
        raise OrderNotFound()
    return access_token_for(secret=secret, checkout_id=order.checkout_id)


async def get_order_by_access(*, uow: UnitOfWork, order_id: str, token: str, secret: str) -> OrderRead:
    """The whole order for whoever holds its guest access token; anyone else 404 (as for other buyers)."""
    order = await _order(uow, order_id, await buyer_of(uow, order_id))
    if order is None or not access_token_matches(secret=secret, checkout_id=order.checkout_id, token=token):
        raise OrderNotFound()
    return await _order_read(uow, order, await _lines(uow, order), only_seller=None)


async def get_order(*, uow: UnitOfWork, order_id: str, user_id: str, seller_id: str | None) -> OrderRead:
    """The whole order for its buyer; for a seller of some of its lines, only their part; else 404."""
    order = await _order(uow, order_id, user_id)
    if order is not None:
        return await _order_read(uow, order, await _lines(uow, order), only_seller=None)
    if seller_id is not None:
        order = await _order(uow, order_id, await buyer_for_seller(uow, seller_id=seller_id, order_id=order_id))
        if order is not None:
            lines = [li for li in await _lines(uow, order) if li.seller_id == seller_id]
            if lines:
                return await _order_read(uow, order, lines, only_seller=seller_id)
    raise OrderNotFound()


async def order_receipt(*, uow: UnitOfWork, order_id: str, user_id: str) -> OrderReceipt:
    """The buyer's order as a receipt: its lines and totals (two statements, where `get_order` reads all that
    happened to it); 404 if the buyer has no such order."""
    order = (await uow.fetch(_ORDER_ROW, {"order": order_id, "buyer": user_id})).one_or_none()
    if order is None:
        raise OrderNotFound()
    c = order.currency
    shipping, tax, discount = order.shipping_amount, order.tax_amount, order.discount_amount
    return OrderReceipt(
        id=order.id,
        lines=[_line_read(li) for li in await uow.fetch(_ORDER_LINES, {"order": order_id, "buyer": user_id})],
        subtotal=money(order.subtotal_amount, c),
        discount=money(discount, c),
        shipping=money(shipping, c),
        tax=money(tax, c),
        total=money(order.subtotal_amount - discount + shipping + tax, c),
    )


async def get_order_as_operator(*, uow: UnitOfWork, order_id: str) -> OrderRead:
    """The whole order as its buyer sees it, for the marketplace's operators."""
    order = await _order(uow, order_id, await buyer_of(uow, order_id))
    if order is None:
        raise OrderNotFound()
    return await _order_read(uow, order, await _lines(uow, order), only_seller=None)


async def _page_of_orders(
    uow: UnitOfWork, keys: Select[str, str], *, page: int, per_page: int, only_seller: str | None = None
) -> tuple[list[Order], dict[str, list[OrderLine]], int]:
    """One page of the orders whose (id, buyer) `keys` selects, newest first (`keys` is ordered so), with their
    lines (only this seller's, if given) and the count of all of them. Orders and lines are read by their key."""
    counted = select(func.count()).select_from(keys.order_by(None).subquery())
    total = (await uow.session.execute(counted.execution_options(**keys.get_execution_options()))).scalar_one()
    page_keys = [
        (str(i), str(u)) for i, u in await uow.session.execute(keys.offset((page - 1) * per_page).limit(per_page))
    ]
    lines: dict[str, list[OrderLine]] = defaultdict(list)
    if not page_keys:
        return [], lines, int(total)
    found = {
        o.id: o
        for o in (await uow.session.execute(select(Order).where(tuple_(Order.id, Order.user_id).in_(page_keys))))
        .scalars()
    }  # fmt: skip
    query = select(OrderLine).where(tuple_(OrderLine.order_id, OrderLine.user_id).in_(page_keys))
    if only_seller is not None:
        query = query.where(OrderLine.seller_id == only_seller)
    for li in (await uow.session.execute(query.order_by(OrderLine.id))).scalars():
        lines[li.order_id].append(li)
    return [found[order_id] for order_id, _ in page_keys if order_id in found], lines, int(total)


def _buyers_orders(user_id: str) -> Select[str, str]:
    return (
        select(Order.id, Order.user_id)
        .where(Order.user_id == user_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
    )


def _sellers_orders(seller_id: str) -> Select[str, str]:
    """A seller's orders from the sellers' index, not from every buyer's lines."""
    return (
        select(SellerOrder.order_id, SellerOrder.user_id)
        .where(SellerOrder.seller_id == seller_id)
        .order_by(SellerOrder.created_at.desc(), SellerOrder.order_id.desc())
    )


def _summary(order: Order, lines: list[OrderLine], total_amount: int) -> OrderSummary:
    return OrderSummary(
        id=order.id,
        status=order.status,
        created_at=order.created_at,
        total=money(total_amount, order.currency),
        items=sum(li.quantity for li in lines),
        titles=[li.title for li in lines][:5],
    )


async def search_orders(
    *,
    uow: UnitOfWork,
    status: str | None,
    buyer_id: str | None,
    seller_id: str | None,
    page: int,
    per_page: int,
) -> tuple[list[OrderSummary], list[str], int]:
    """Any orders, newest first, filtered by status, buyer and/or seller: (summaries, their buyer ids, total).
    By buyer it reads that buyer's orders, by seller the sellers' index; by status alone, or with no filter, it
    browses every buyer's orders (an operator's read across partitions)."""
    if buyer_id:
        keys = _buyers_orders(buyer_id)
        if status:
            keys = keys.where(Order.status == status)
        if seller_id:
            keys = keys.where(
                Order.id.in_(
                    select(SellerOrder.order_id).where(
                        SellerOrder.seller_id == seller_id, SellerOrder.user_id == buyer_id
                    )
                )
            )
    elif seller_id:
        keys = _sellers_orders(seller_id)
        if status:  # each of the seller's orders is looked at for its status: across buyers
            keys = keys.where(
                tuple_(SellerOrder.order_id, SellerOrder.user_id).in_(
                    select(Order.id, Order.user_id).where(Order.status == status)
                )
            ).execution_options(**CROSS_PARTITION)
    else:
        keys = select(Order.id, Order.user_id).order_by(Order.created_at.desc(), Order.id.desc())
        keys = (keys.where(Order.status == status) if status else keys).execution_options(**CROSS_PARTITION)
    orders, lines, total = await _page_of_orders(uow, keys, page=page, per_page=per_page)
    return [_summary(o, lines[o.id], o.total_amount) for o in orders], [o.user_id for o in orders], total


async def _order_read(uow: UnitOfWork, order: Order, lines: list[OrderLine], only_seller: str | None) -> OrderRead:
    c = order.currency
    shipments = await _shipments(uow, order, only_seller)
    returns = await _returns(uow, order, only_seller)
    history = (
        await uow.session.execute(
            select(OrderStatusHistory)
            .where(OrderStatusHistory.order_id == order.id, OrderStatusHistory.user_id == order.user_id)
            .order_by(OrderStatusHistory.at, OrderStatusHistory.id)
        )
    ).scalars()
    summaries = await product_summaries(uow=uow, product_ids=[li.product_id for li in lines])
    images = {pid: s.image.thumb for pid, s in summaries.items() if s.image is not None}
    payment = None
    if only_seller is None:
        p = (await uow.session.execute(select(Payment).where(Payment.order_id == order.id))).scalar_one_or_none()
        if p is not None:
            payment = PaymentSummary(
                status=p.status,
                authorized=money(p.authorized_amount, c),
                captured=money(p.captured_amount, c),
                refunded=money(p.refunded_amount, c),
            )
    discounts = [d for d in order.discounts or [] if only_seller is None or d.get("seller_id") == only_seller]
    if only_seller is None:
        subtotal, shipping, tax = order.subtotal_amount, order.shipping_amount, order.tax_amount
        discount = order.discount_amount
    else:  # a seller sees their own lines, their shipping charge, those lines' tax and their own voucher
        subtotal = sum(li.unit_price_amount * li.quantity for li in lines)
        shipping = sum(li.shipping_amount for li in lines)
        tax = sum(li.tax_amount for li in lines)
        discount = sum(li.discount_amount for li in lines)
    return OrderRead(
        id=order.id,
        status=order.status,
        created_at=order.created_at,
        buyer_id=order.user_id,
        lines=[_line_read(li, images.get(li.product_id)) for li in lines],
        subtotal=money(subtotal, c),
        discounts=[
            DiscountRead(code=d["code"], seller_id=d["seller_id"], amount=money(int(d["amount"]), c)) for d in discounts
        ],
        discount=money(discount, c),
        shipping=money(shipping, c),
        tax=money(tax, c),
        total=money(subtotal - discount + shipping + tax, c),
        shipping_address=order.shipping_address,
        shipping_method=order.shipping_method,
        payment=payment,
        shipments=shipments,
        returns=returns,
        history=[HistoryRead(status=h.status, at=h.at, note=h.note) for h in history],
    )


def _line_read(li: OrderLine, image: str | None = None) -> OrderLineRead:
    c = li.currency
    return OrderLineRead(
        id=li.id,
        offer_id=li.offer_id,
        sku_id=li.sku_id,
        product_id=li.product_id,
        seller_id=li.seller_id,
        title=li.title,
        quantity=li.quantity,
        unit_price=money(li.unit_price_amount, c),
        line_total=money(li.unit_price_amount * li.quantity, c),
        tax=money(li.tax_amount, c),
        shipped_quantity=li.shipped_quantity,
        returned_quantity=li.returned_quantity,
        discount=money(li.discount_amount, c),
        image=image,
    )


async def _shipments(uow: UnitOfWork, order: Order, only_seller: str | None) -> list[ShipmentRead]:
    query = (
        select(Shipment)
        .where(Shipment.order_id == order.id, Shipment.user_id == order.user_id)
        .order_by(Shipment.created_at, Shipment.id)
    )
    if only_seller is not None:
        query = query.where(Shipment.seller_id == only_seller)
    shipments = list((await uow.session.execute(query)).scalars())
    ids = [s.id for s in shipments]
    line_ids: dict[str, list[str]] = defaultdict(list)
    events: dict[str, list[TrackingEventRead]] = defaultdict(list)
    if ids:
        mine = (ShipmentLine.user_id == order.user_id, ShipmentLine.shipment_id.in_(ids))
        for sl in (await uow.session.execute(select(ShipmentLine).where(*mine))).scalars():
            line_ids[sl.shipment_id].append(sl.order_line_id)
        for ev in (
            await uow.session.execute(
                select(TrackingEvent)
                .where(TrackingEvent.user_id == order.user_id, TrackingEvent.shipment_id.in_(ids))
                .order_by(TrackingEvent.at)
            )
        ).scalars():
            events[ev.shipment_id].append(TrackingEventRead(status=ev.status, location=ev.location, at=ev.at))
    return [shipment_read(s, sorted(line_ids[s.id]), events[s.id]) for s in shipments]


def shipment_read(s: Shipment, line_ids: list[str], events: list[TrackingEventRead]) -> ShipmentRead:
    return ShipmentRead(
        id=s.id,
        order_id=s.order_id,
        seller_id=s.seller_id,
        carrier=s.carrier,
        tracking_number=s.tracking_number,
        status=s.status,
        line_ids=line_ids,
        created_at=s.created_at,
        delivered_at=s.delivered_at,
        events=events,
    )


async def _returns(uow: UnitOfWork, order: Order, only_seller: str | None) -> list[ReturnRead]:
    query = (
        select(Return)
        .where(Return.order_id == order.id, Return.user_id == order.user_id)
        .order_by(Return.created_at, Return.id)
    )
    if only_seller is not None:
        query = query.where(Return.seller_id == only_seller)
    returns = list((await uow.session.execute(query)).scalars())
    return [await return_read(uow, r) for r in returns]


async def return_read(uow: UnitOfWork, r: Return) -> ReturnRead:
    lines = (
        await uow.session.execute(
            select(ReturnLine).where(ReturnLine.return_id == r.id, ReturnLine.user_id == r.user_id)
        )
    ).scalars()
    return ReturnRead(
        id=r.id,
        order_id=r.order_id,
        seller_id=r.seller_id,
        status=r.status,
        reason=r.reason,
        lines=[ReturnLineRead(order_line_id=rl.order_line_id, quantity=rl.quantity) for rl in lines],
        refund=money(r.refund_amount, r.currency),
        created_at=r.created_at,
        received_at=r.received_at,
    )


async def list_orders(
    *, uow: UnitOfWork, user_id: str | None, seller_id: str | None, page: int, per_page: int
) -> Page[OrderSummary]:
    """A buyer's orders (user_id) or the orders holding a seller's lines (seller_id), newest first; a seller sees
    the total of their own lines."""
    if seller_id is not None:
        keys = _sellers_orders(seller_id)
    elif user_id is not None:
        keys = _buyers_orders(user_id)
    else:
        raise ValueError("a buyer's or a seller's orders")
    orders, lines, total = await _page_of_orders(uow, keys, page=page, per_page=per_page, only_seller=seller_id)
    items = []
    for o in orders:
        mine = lines[o.id]
        total_amount = (
            o.total_amount
            if seller_id is None
            else sum(
                li.unit_price_amount * li.quantity - li.discount_amount + li.shipping_amount + li.tax_amount
                for li in mine
            )
        )
        items.append(_summary(o, mine, total_amount))
    return Page[OrderSummary](items=items, total=total, page=page, per_page=per_page)


@dataclass(frozen=True)
class SellerMoney:
    """One seller's part of an order: price x quantity plus its shipping charge (gross), its lines' tax, and
    the gross per product (for commission rates by category)."""

    gross: int
    tax: int
    by_product: dict[str, int]
    units: int = 0
    items: tuple[tuple[int, str], ...] = ()  # (quantity, title) of each of the seller's lines


@dataclass(frozen=True)
class OrderMoney:
    order_id: str
    buyer_id: str
    currency: str
    status: str
    total: int
    delivered_at: datetime | None
    sellers: dict[str, SellerMoney]


def money_line(li: OrderLine | Mapping[str, Any]) -> dict[str, Any]:
    """A line (a row of `order_lines`, or its values by column) as `sellers_money` (and the order-placed event,
    which carries them) takes it."""
    v = li if isinstance(li, Mapping) else {k: getattr(li, k) for k in _MONEY_COLUMNS}
    return {
        "seller_id": v["seller_id"],
        "product_id": v["product_id"],
        "quantity": v["quantity"],
        "title": v["title"],
        "amount": v["unit_price_amount"] * v["quantity"] + v["shipping_amount"],
        "tax": v["tax_amount"],
    }


_MONEY_COLUMNS = ("seller_id", "product_id", "quantity", "title", "unit_price_amount", "shipping_amount", "tax_amount")


def sellers_money(lines: Iterable[Mapping[str, Any]]) -> dict[str, SellerMoney]:
    """Each seller's part of an order from its lines (as `money_line` gives them), in seller order."""
    gross: dict[str, int] = defaultdict(int)
    tax: dict[str, int] = defaultdict(int)
    by_product: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    items: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for li in lines:
        seller = li["seller_id"]
        gross[seller] += int(li["amount"])
        tax[seller] += int(li["tax"])
        by_product[seller][li["product_id"]] += int(li["amount"])
        items[seller].append((int(li["quantity"]), li["title"]))
    return {
        s: SellerMoney(gross[s], tax[s], dict(by_product[s]), sum(q for q, _ in items[s]), tuple(items[s]))
        for s in sorted(gross)
    }


async def placed_sellers(*, uow: UnitOfWork, placed: Mapping[str, Any]) -> dict[str, SellerMoney]:
    """Each seller's part of a just-placed order, from the order-placed event's payload: from the lines it
    carries, or (an event of an earlier version, which carried none) read from the order."""
    if placed.get("lines"):
        return sellers_money(placed["lines"])
    return (await order_money(uow=uow, order_id=placed["id"], buyer_id=placed["user_id"])).sellers


async def order_money(*, uow: UnitOfWork, order_id: str, buyer_id: str | None = None) -> OrderMoney:
    """What an order's money is made of, per seller (for the sellers' ledger). Give the buyer when it is known
    (an order event carries it); else the directory names it."""
    buyer = buyer_id or await buyer_of(uow, order_id)
    order = None if buyer is None else (await uow.fetch(_ORDER_ROW, {"order": order_id, "buyer": buyer})).one_or_none()
    if order is None:
        raise OrderNotFound()
    lines = await uow.fetch(_ORDER_LINES, {"order": order_id, "buyer": buyer})
    return OrderMoney(
        order_id=order.id,
        buyer_id=order.user_id,
        currency=order.currency,
        status=order.status,
        total=order.total_amount,
        delivered_at=order.delivered_at,
        sellers=sellers_money(money_line(li._mapping) for li in lines),
    )


async def return_seller(*, uow: UnitOfWork, return_id: str) -> str | None:
    user_id = await buyer_of(uow, return_id)
    query = select(Return.seller_id).where(Return.id == return_id, Return.user_id == user_id)
    return None if user_id is None else (await uow.session.execute(query)).scalar_one_or_none()


async def received_product_ids(*, uow: UnitOfWork, buyer_id: str, product_ids: list[str]) -> set[str]:
    """Which of these products the buyer has received: a line of theirs in a delivered shipment (or an order
    marked delivered or returned as a whole). What makes a review "verified"."""
    if not product_ids:
        return set()
    delivered_lines = (
        select(ShipmentLine.order_line_id)
        .join(Shipment, (Shipment.id == ShipmentLine.shipment_id) & (Shipment.user_id == ShipmentLine.user_id))
        .where(ShipmentLine.user_id == buyer_id, Shipment.status == "delivered")
    )
    rows = await uow.session.execute(
        select(OrderLine.product_id)
        .join(Order, (Order.id == OrderLine.order_id) & (Order.user_id == OrderLine.user_id))
        .where(
            OrderLine.user_id == buyer_id,
            Order.user_id == buyer_id,
            OrderLine.product_id.in_(sorted(set(product_ids))),
            (Order.status.in_(("delivered", "returned"))) | OrderLine.id.in_(delivered_lines),
        )
        .distinct()
    )
    return set(rows.scalars())


async def products_of_orders(*, uow: UnitOfWork, keys: list[tuple[str, str | None]]) -> dict[str, list[str]]:
    """The distinct products of each order (given as (order id, buyer), the buyer looked up when not known), in
    line order; one query for all of them."""
    known = [(order_id, buyer or await buyer_of(uow, order_id)) for order_id, buyer in keys]
    wanted = sorted({(order_id, buyer) for order_id, buyer in known if buyer is not None})
    found: dict[str, list[str]] = {order_id: [] for order_id, _ in keys}
    if wanted:
        rows = await uow.session.execute(
            select(OrderLine.order_id, OrderLine.product_id)
            .where(tuple_(OrderLine.order_id, OrderLine.user_id).in_(wanted))
            .order_by(OrderLine.order_id, OrderLine.id)
        )
        for order_id, product_id in rows:
            if product_id not in found[order_id]:
                found[order_id].append(product_id)
    return found


async def recently_ordered_product_ids(*, uow: UnitOfWork, buyer_id: str, limit: int = 20) -> list[str]:
    """The products a buyer ordered most recently, newest first."""
    rows = await uow.session.execute(
        select(OrderLine.product_id)
        .join(Order, (Order.id == OrderLine.order_id) & (Order.user_id == OrderLine.user_id))
        .where(OrderLine.user_id == buyer_id, Order.user_id == buyer_id, Order.status != "cancelled")
        .order_by(Order.created_at.desc(), OrderLine.id)
        .limit(limit * 3)
    )
    return list(dict.fromkeys(rows.scalars()))[:limit]


async def sales_figures(*, uow: UnitOfWork, since: datetime) -> tuple[int, int, int, int]:
    """Orders placed since `since`, cancelled ones left out: (GMV in minor units, orders, buyers, sellers)."""
    placed = (Order.created_at >= since, Order.status != "cancelled")
    gmv, count, buyers = (
        await uow.session.execute(
            select(func.coalesce(func.sum(Order.total_amount), 0), func.count(), func.count(Order.user_id.distinct()))
            .where(*placed)
            .execution_options(**CROSS_PARTITION)
        )
    ).one()  # fmt: skip
    sellers = await uow.session.execute(
        select(func.count(OrderLine.seller_id.distinct()))
        .join(Order, (Order.id == OrderLine.order_id) & (Order.user_id == OrderLine.user_id))
        .where(*placed)
        .execution_options(**CROSS_PARTITION)
    )
    return int(gmv), int(count), int(buyers), int(sellers.scalar_one())
