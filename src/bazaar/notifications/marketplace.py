"""Notifications from running the marketplace: disputes (seller and buyer), payouts (seller), goodwill refunds
(buyer and sellers), and a seller's suspension or reinstatement."""

from __future__ import annotations

from typing import Any

from bazaar.accounts import standing
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.errors import NotFound
from bazaar.notifications.service import notify
from bazaar.orders import queries as orders

Event = dict[str, Any]


def _amount(cents: int, currency: str = "USD") -> str:
    return f"${cents / 100:,.2f}" if currency == "USD" else f"{currency} {cents / 100:,.2f}"


async def _seller_user(uow: UnitOfWork, seller_id: str) -> str | None:
    try:
        return (await standing.seller_user(uow=uow, seller_id=seller_id))[0]
    except NotFound:
        return None


async def _tell_sellers(
    uow: UnitOfWork, event: Event, seller_ids: list[str], kind: str, subject: str, body: str
) -> None:
    for seller_id in sorted(set(seller_ids)):
        user_id = await _seller_user(uow, seller_id)
        if user_id is not None:
            await notify(uow=uow, user_id=user_id, kind=kind, event_id=event["event_id"], subject=subject, body=body)


async def on_dispute_opened(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    short, amount = p["order_id"][-8:], _amount(p["amount"], p["currency"])
    await _tell_sellers(
        uow, event, p["seller_ids"], "dispute_opened", f"Dispute on order {short}: {amount}",
        f"The buyer's bank disputed the payment ({p['reason'] or 'no reason given'}). The amount is held from your "
        "balance; answer with evidence in the seller center.",
    )  # fmt: skip
    await notify(
        uow=uow, user_id=p["buyer_id"], kind="dispute_opened", event_id=event["event_id"],
        subject=f"Your dispute on order {short} was received",
        body=f"Your bank disputed {amount}; we will tell you when it is decided.",
    )  # fmt: skip


async def on_dispute_closed(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    short, amount = p["order_id"][-8:], _amount(p["amount"], p["currency"])
    if p["outcome"] == "won":
        seller_body = f"The dispute was decided in your favour: {amount} is back in your balance."
    else:
        seller_body = f"The dispute was lost: {amount} and a fee of {_amount(p['fee'], p['currency'])} were debited."
    await _tell_sellers(uow, event, p["seller_ids"], "dispute_closed", f"Dispute on order {short} {p['outcome']}",
                        seller_body)  # fmt: skip
    buyer_body = "Your bank refunds you the amount." if p["outcome"] == "lost" else "The payment stands."
    await notify(uow=uow, user_id=p["buyer_id"], kind="dispute_closed", event_id=event["event_id"],
                 subject=f"Your dispute on order {short} is decided", body=buyer_body)  # fmt: skip


async def on_payout(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    amount = _amount(p["amount"], p["currency"])
    if event["topic"] == "ledger.payout_sent.v1":
        kind, subject, body = "payout_sent", f"Payout of {amount} sent", f"Sent to your account {p['destination']}."
    else:
        kind, subject = "payout_failed", f"Payout of {amount} failed"
        body = f"The provider refused it ({p['reason'].replace('_', ' ')}); the money is back in your balance."
    await _tell_sellers(uow, event, [p["seller_id"]], kind, subject, body)


async def on_goodwill_refund(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    short, amount = p["order_id"][-8:], _amount(p["amount"], p["currency"])
    await notify(uow=uow, user_id=p["user_id"], kind="refund_issued", event_id=event["event_id"],
                 subject=f"Refund of {amount} for order {short}", body=p["reason"])  # fmt: skip
    sellers = list((await orders.order_money(uow=uow, order_id=p["order_id"], buyer_id=p["user_id"])).sellers)
    await _tell_sellers(
        uow, event, sellers, "goodwill_refund", f"Goodwill refund of {amount} on order {short}",
        f"The marketplace refunded the buyer ({p['reason']}); your share is debited from your balance.",
    )  # fmt: skip


async def on_seller_standing(uow: UnitOfWork, event: Event) -> None:
    p = event["payload"]
    if event["topic"] == "accounts.seller_suspended.v1":
        subject, body = "Your shop is suspended", f"Your offers are hidden and you cannot list. Reason: {p['reason']}"
    else:
        subject, body = "Your shop is reinstated", "Your offers are back on sale."
    await notify(uow=uow, user_id=p["user_id"], kind="seller_standing", event_id=event["event_id"], subject=subject,
                 body=body)  # fmt: skip


HANDLERS = {
    "disputes.dispute_opened.v1": on_dispute_opened,
    "disputes.dispute_closed.v1": on_dispute_closed,
    "ledger.payout_sent.v1": on_payout,
    "ledger.payout_failed.v1": on_payout,
    "admin.goodwill_refund_issued.v1": on_goodwill_refund,
    "accounts.seller_suspended.v1": on_seller_standing,
    "accounts.seller_reinstated.v1": on_seller_standing,
}
