"""Event consumers: notifications for buyers and sellers, and the sellers' running figures.

Each handler runs inside the relay's inbox-protected transaction, so a redelivered event is
skipped as a whole; `notify` is also keyed by event id, belt and braces.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select

from bazaar.accounts.models import Seller
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.events import holds_of
from bazaar.notifications import marketplace
from bazaar.notifications.service import Notice, SellerFigures, bump_seller_stats, notify, notify_all
from bazaar.orders import queries as orders

Event = dict[str, Any]


def _amount(cents: int) -> str:
    return f"${cents / 100:,.2f}"


_SELLERS = cast(Table, Seller.__table__)
_SELLER_USERS = Prepared.listing(  # built once: every order's notifications run it
    lambda one_of: select(_SELLERS.c.id, _SELLERS.c.user_id).where(one_of(_SELLERS.c.id, "ids"))
)


async def _seller_users(uow: UnitOfWork, seller_ids: list[str]) -> dict[str, str]:
    rows = await uow.fetch(_SELLER_USERS, {"ids": list(seller_ids)})
    return {seller_id: user_id for seller_id, user_id in rows}


async def _order_placed_notices(uow: UnitOfWork, events: list[Event]) -> list[Notice]:
    """What orders placed tell their buyers and sellers (the sellers' users read once for all of them)."""
    per_order = [(e, await orders.placed_sellers(uow=uow, placed=e["payload"])) for e in events]
    users = await _seller_users(uow, sorted({s for _, sellers in per_order for s in sellers}))
    notices = []
    for event, per_seller in per_order:
        p = event["payload"]
        short = p["id"][-8:]
        total = _amount(p["total_amount"])
        notices.append(
            Notice(
                p["user_id"],
                "order_placed",
                f"Order {short} placed",
                f"Thank you! Your order totals {total}.",
                event["event_id"],
            )
        )
        for seller_id, part in per_seller.items():
            if seller_id in users:
                subject = f"New order {short}: {part.units} item(s) to ship"
                body = ", ".join(f"{quantity} x {title}" for quantity, title in part.items)
                notices.append(Notice(users[seller_id], "new_order", subject, body, event["event_id"]))
    return notices


async def on_order_placed(uow: UnitOfWork, event: Event) -> None:
    await notify_all(uow=uow, notices=await _order_placed_notices(uow, [event]))


STATUS_MESSAGES = {
    "shipped": ("order_shipped", "Order {short} has shipped", "Everything in your order is on its way."),
    "delivered": ("order_delivered", "Order {short} was delivered", "Your order has arrived. Enjoy!"),
    "cancelled": (
        "order_cancelled",
        "Order {short} was cancelled",
        "Your order was cancelled; any payment is voided or refunded.",
    ),
    "processing": ("payment_captured", "Order {short} is being prepared", "Your payment went through."),
}


async def on_order_status_changed(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    message = STATUS_MESSAGES.get(p["status"])
    if message is None:
        return
    kind, subject, body = message
    short = p["id"][-8:]
    await notify(
        uow=uow,
        user_id=p["user_id"],
        kind=kind,
        event_id=event["event_id"],
        subject=subject.format(short=short),
        body=body,
    )
    if p["status"] == "cancelled":
        seller_ids = (await orders.order_money(uow=uow, order_id=p["id"], buyer_id=p["user_id"])).sellers
        users = await _seller_users(uow, sorted(seller_ids))
        for user_id in users.values():
            await notify(
                uow=uow,
                user_id=user_id,
                kind="order_cancelled",
                event_id=event["event_id"],
                subject=f"Order {short} was cancelled",
                body="Do not ship it; the stock is back on sale.",
            )


async def on_shipment_created(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    await notify(
        uow=uow,
        user_id=p["user_id"],
        kind="shipment_sent",
        event_id=event["event_id"],
        subject=f"A parcel from order {p['order_id'][-8:]} is on its way",
        body=f"{p['carrier']} tracking number {p['tracking_number']}.",
    )


async def on_return_received(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    await notify(
        uow=uow,
        user_id=p["user_id"],
        kind="refund_issued",
        event_id=event["event_id"],
        subject=f"Refund of {_amount(p['refund_amount'])} issued",
        body=f"The seller received your return for order {p['order_id'][-8:]}.",
    )


async def on_return_requested(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    users = await _seller_users(uow, [p["seller_id"]])
    if p["seller_id"] in users:
        await notify(
            uow=uow,
            user_id=users[p["seller_id"]],
            kind="return_requested",
            event_id=event["event_id"],
            subject=f"Return requested for order {p['order_id'][-8:]}",
            body="Receive it in the seller center when the parcel arrives.",
        )


async def on_product_alert(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    price = _amount(p["price_amount"]) if p.get("price_amount") is not None else None
    if p["kind"] == "back_in_stock":
        subject = f"Back in stock: {p['title']}"[:300]
        body = f"It is available again{f', from {price}' if price else ''}."
    else:
        was = _amount(p["previous_price_amount"]) if p.get("previous_price_amount") is not None else None
        subject = f"Price drop: {p['title']}"[:300]
        body = f"Now {price}{f' (was {was})' if was else ''}."
    await notify(uow=uow, user_id=p["user_id"], kind=p["kind"], event_id=event["event_id"], subject=subject, body=body)


def _sold(sellers: dict[str, orders.SellerMoney], sign: int) -> dict[str, SellerFigures]:
    """What an order adds to its sellers' figures (`sign` -1: takes away, cancelled): one order, its units and its
    revenue, which is the lines' price plus the seller's shipping charge."""
    return {
        seller_id: SellerFigures(orders=sign, units_sold=sign * part.units, revenue=sign * part.gross)
        for seller_id, part in sellers.items()
    }


async def _stats_on_order_placed(uow: UnitOfWork, event: Event) -> dict[str, SellerFigures]:
    return _sold(await orders.placed_sellers(uow=uow, placed=event["payload"]), 1)


async def _stats_on_status_changed(uow: UnitOfWork, event: Event) -> dict[str, SellerFigures]:
    p = event["payload"]
    if p["status"] != "cancelled":
        return {}
    return _sold((await orders.order_money(uow=uow, order_id=p["id"], buyer_id=p["user_id"])).sellers, -1)


async def _stats_on_reservation_made(uow: UnitOfWork, event: Event) -> dict[str, SellerFigures]:
    """Each seller's holds (one hold an event, or several) and units held."""
    reserved: dict[str, SellerFigures] = {}
    for h in holds_of(event):
        if h.get("seller_id"):
            reserved.setdefault(h["seller_id"], SellerFigures()).add(
                SellerFigures(reservations=1, units_reserved=int(h.get("quantity", 1)))
            )
    return reserved


RESERVATION_TOPICS = ("inventory.reservations_made.v1", "inventory.reservation_made.v1")
STATS_HANDLERS = {
    "orders.order_placed.v1": _stats_on_order_placed,
    "orders.order_status_changed.v1": _stats_on_status_changed,
    **{topic: _stats_on_reservation_made for topic in RESERVATION_TOPICS},
}

HANDLERS = {
    "orders.order_placed.v1": on_order_placed,
    "orders.order_status_changed.v1": on_order_status_changed,
    "shipping.shipment_created.v1": on_shipment_created,
    "orders.return_received.v1": on_return_received,
    "orders.return_requested.v1": on_return_requested,
    "wishlists.product_alert.v1": on_product_alert,
    **marketplace.HANDLERS,
}


async def handle_notifications(uow: UnitOfWork, event: Event) -> None:
    handler = HANDLERS.get(event["topic"])
    if handler is not None:
        await handler(uow, event)


async def handle_notifications_batch(uow: UnitOfWork, events: list[Event]) -> None:
    """`handle_notifications` for a batch: orders placed one after another (a rush's events) tell their buyers and
    sellers with one read of the sellers and one write for all of them; other events one by one, in their place
    (an order's later news stays newer than its "placed")."""
    placed: list[Event] = []
    for event in [*events, None]:
        if event is not None and event["topic"] == "orders.order_placed.v1":
            placed.append(event)
            continue
        if placed:
            await notify_all(uow=uow, notices=await _order_placed_notices(uow, placed))
            placed = []
        if event is not None:
            await handle_notifications(uow, event)


async def handle_seller_stats_batch(uow: UnitOfWork, events: list[Event]) -> None:
    """`handle_seller_stats` for a batch: what all its events add, summed per seller, written by one statement
    (a rush's orders and holds become one counter update per seller, not one per event and seller)."""
    added: dict[str, SellerFigures] = {}
    for event in events:
        handler = STATS_HANDLERS.get(event["topic"])
        if handler is not None:
            for seller_id, figures in (await handler(uow, event)).items():
                added.setdefault(seller_id, SellerFigures()).add(figures)
    await bump_seller_stats(uow=uow, figures=added)


async def handle_seller_stats(uow: UnitOfWork, event: Event) -> None:
    await handle_seller_stats_batch(uow, [event])
