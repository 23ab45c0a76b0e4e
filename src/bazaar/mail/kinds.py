"""The kinds of email, the events that make them and how each is composed.

Adding a kind is one small step in three places:
1. a `compose_<kind>` function below: from the event, who gets the email and what it says (a Draft);
2. two templates, `mail/templates/<kind>.txt` and `<kind>.html` (extending `_base.*`);
3. an entry in KINDS (name, the label buyers see on their preferences page, the topic, the composer).
The consumer subscribes to every topic in KINDS; preferences and unsubscribe links follow on their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bazaar.accounts import service as accounts
from bazaar.accounts import standing
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.errors import NotFound
from bazaar.orders import queries as orders

Event = dict[str, Any]


@dataclass(frozen=True)
class MailConfig:
    public_url: str  # links in emails start with it
    sender: str  # the From address
    secret_key: str  # signs unsubscribe links (and guests' order links)


@dataclass(frozen=True)
class Draft:
    """One email decided by a composer: to whom, the subject, and what the templates need."""

    to: str
    subject: str
    context: dict[str, Any] = field(default_factory=dict)


Composer = Callable[[UnitOfWork, Event, MailConfig], Awaitable[list[Draft]]]


@dataclass(frozen=True)
class MailKind:
    name: str
    label: str
    topic: str
    compose: Composer


def _money(amount: int | None, currency: str = "USD") -> str:
    if amount is None:
        return ""
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{symbol}{amount // 100:,}.{amount % 100:02d}"


async def _buyer(uow: UnitOfWork, user_id: str) -> tuple[str, str, bool] | None:
    try:
        user = await accounts.get_user(uow=uow, user_id=user_id)
    except NotFound:
        return None
    return user.email, user.name, user.is_guest


async def _order_link(uow: UnitOfWork, config: MailConfig, order_id: str, user_id: str, is_guest: bool) -> str:
    if not is_guest:
        return f"{config.public_url}/orders/{order_id}"
    token = await orders.guest_access_token(uow=uow, order_id=order_id, secret=config.secret_key, user_id=user_id)
    return f"{config.public_url}/orders/{order_id}?access={token}"


async def _order_draft(
    uow: UnitOfWork, config: MailConfig, order_id: str, user_id: str, subject: str, **extra: Any
) -> list[Draft]:
    buyer = await _buyer(uow, user_id)
    if buyer is None:
        return []
    email, name, is_guest = buyer
    order = await orders.order_receipt(uow=uow, order_id=order_id, user_id=user_id)
    context = {
        "name": name,
        "order": order,
        "number": order_number(order_id),
        "order_url": await _order_link(uow, config, order_id, user_id, is_guest),
        "money": _money,
        "is_guest": is_guest,
        **extra,
    }
    return [Draft(to=email, subject=subject.format(number=order_number(order_id)), context=context)]


def order_number(order_id: str) -> str:
    """The order number people read (the same short form the storefront shows)."""
    return order_id[-8:]


async def compose_order_placed(uow: UnitOfWork, event: Event, config: MailConfig) -> list[Draft]:
    p = event["payload"]
    return await _order_draft(uow, config, p["id"], p["user_id"], "Your Bazaar order {number} is placed")


async def compose_order_shipped(uow: UnitOfWork, event: Event, config: MailConfig) -> list[Draft]:
    p = event["payload"]
    return await _order_draft(
        uow,
        config,
        p["order_id"],
        p["user_id"],
        "A parcel from your order {number} is on its way",
        carrier=p["carrier"],
        tracking_number=p["tracking_number"],
        shipment_id=p["id"],
    )


def _on_status(status: str, subject: str) -> Composer:
    async def compose(uow: UnitOfWork, event: Event, config: MailConfig) -> list[Draft]:
        p = event["payload"]
        if p["status"] != status:
            return []
        return await _order_draft(uow, config, p["id"], p["user_id"], subject)

    return compose


async def compose_refund_issued(uow: UnitOfWork, event: Event, config: MailConfig) -> list[Draft]:
    p = event["payload"]
    refund = _money(p["refund_amount"], p.get("currency", "USD"))
    return await _order_draft(
        uow, config, p["order_id"], p["user_id"], f"Refund of {refund} for order {{number}}", refund=refund
    )


def _on_alert(kind: str, subject: str) -> Composer:
    async def compose(uow: UnitOfWork, event: Event, config: MailConfig) -> list[Draft]:
        p = event["payload"]
        if p["kind"] != kind:
            return []
        buyer = await _buyer(uow, p["user_id"])
        if buyer is None:
            return []
        email, name, _ = buyer
        currency = p.get("currency", "USD")
        context = {
            "name": name,
            "title": p["title"],
            "price": _money(p.get("price_amount"), currency),
            "previous_price": _money(p.get("previous_price_amount"), currency),
            "product_url": f"{config.public_url}/p/{p['product_id']}",
            "wishlist_url": f"{config.public_url}/wishlist",
        }
        return [Draft(to=email, subject=subject.format(title=p["title"][:120]), context=context)]

    return compose


async def _seller_contact(uow: UnitOfWork, seller_id: str) -> tuple[str, str] | None:
    """(email, name) of the seller's account."""
    try:
        user_id, email = await standing.seller_user(uow=uow, seller_id=seller_id)
        return email, (await accounts.get_user(uow=uow, user_id=user_id)).name
    except NotFound:
        return None


async def compose_dispute_opened(uow: UnitOfWork, event: Event, config: MailConfig) -> list[Draft]:
    """Each seller of the disputed order: what was disputed, that the money is held, where to answer."""
    p = event["payload"]
    drafts = []
    for seller_id in sorted(set(p["seller_ids"])):
        contact = await _seller_contact(uow, seller_id)
        if contact is None:
            continue
        email, name = contact
        context = {
            "name": name,
            "number": order_number(p["order_id"]),
            "amount": _money(p["amount"], p["currency"]),
            "reason": p.get("reason") or "no reason given",
            "disputes_url": f"{config.public_url}/seller/orders/{p['order_id']}",
        }
        drafts.append(
            Draft(to=email, subject=f"Dispute on order {context['number']}: answer with evidence", context=context)
        )
    return drafts


async def compose_payout_sent(uow: UnitOfWork, event: Event, config: MailConfig) -> list[Draft]:
    p = event["payload"]
    contact = await _seller_contact(uow, p["seller_id"])
    if contact is None:
        return []
    email, name = contact
    amount = _money(p["amount"], p["currency"])
    account = str(p["destination"])
    context = {
        "name": name,
        "amount": amount,
        "account": f"…{account[-4:]}",
        "seller_url": f"{config.public_url}/seller",
    }
    return [Draft(to=email, subject=f"Payout of {amount} sent", context=context)]


KINDS: tuple[MailKind, ...] = (
    MailKind("order_placed", "Order confirmations", "orders.order_placed.v1", compose_order_placed),
    MailKind("order_shipped", "Shipping updates with tracking", "shipping.shipment_created.v1", compose_order_shipped),
    MailKind(
        "order_delivered",
        "Deliveries",
        "orders.order_status_changed.v1",
        _on_status("delivered", "Your order {number} was delivered"),
    ),
    MailKind(
        "order_cancelled",
        "Cancellations",
        "orders.order_status_changed.v1",
        _on_status("cancelled", "Your order {number} is cancelled"),
    ),
    MailKind("refund_issued", "Refunds", "orders.return_received.v1", compose_refund_issued),
    MailKind(
        "back_in_stock",
        "Back-in-stock alerts",
        "wishlists.product_alert.v1",
        _on_alert("back_in_stock", "Back in stock: {title}"),
    ),
    MailKind(
        "price_drop",
        "Price drops on your wish list",
        "wishlists.product_alert.v1",
        _on_alert("price_drop", "Price drop: {title}"),
    ),
    MailKind(
        "dispute_opened", "Disputes on your sales (sellers)", "disputes.dispute_opened.v1", compose_dispute_opened
    ),
    MailKind("payout_sent", "Payouts sent (sellers)", "ledger.payout_sent.v1", compose_payout_sent),
)
KIND_NAMES = tuple(k.name for k in KINDS)
TOPICS = tuple(sorted({k.topic for k in KINDS}))
