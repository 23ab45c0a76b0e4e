"""Chargebacks end to end: the sandbox provider opens a dispute and decides it, signed webhooks tell Bazaar
(out of order and replayed too), the seller answers with evidence, a lost dispute debits the seller the amount
and the fee, a won one gives the amount back, the buyer sees it on the order; a bad signature answers 401
and changes nothing. On both backends."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bazaar.adapters.sandbox_payments.disputes import DISPUTE_FEE, sent_events, sign
from bazaar.bootstrap import Container
from bazaar.disputes.models import Dispute, PaymentWebhookEvent
from bazaar.ledger.models import LedgerEntry
from bazaar.payments.models import Payment
from bazaar.workers import payments as payment_workers
from tests.e2e.test_admin import new_admin
from tests.e2e.test_ledger import buy, check_books, deliver
from tests.e2e.test_orders import code_of, seller_with_offers
from tests.helpers import API, drain_events, new_user

WEBHOOK = f"{API}/webhooks/payments"


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


def sandbox(container: Container) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=container.payment_sandbox)
    return httpx.AsyncClient(transport=transport, base_url="http://sandbox")


async def provider_payment(container: Container, order_id: str) -> str:
    async with container.read_uow() as uow:
        found = await uow.session.execute(select(Payment.provider_payment_id).where(Payment.order_id == order_id))
        return str(found.scalar_one())


async def delivered_order(client: httpx.AsyncClient, container: Container, price: int = 3000) -> tuple[Any, ...]:
    seller, seller_id, (offer,) = await seller_with_offers(client, container, 5, price=price)
    _, buyer = await new_user(client)
    order_id = await buy(client, buyer, offer, 1, f"o-{price}")
    assert await payment_workers.run_capture(container) >= 1
    await deliver(client, seller, buyer, order_id)
    await drain_events(container)  # the sale is in the ledger
    assert await seller_total(container, seller_id) == price - price // 10
    return seller, seller_id, buyer, order_id


async def seller_total(container: Container, seller_id: str) -> int:
    async with container.read_uow() as uow:
        total = await uow.session.execute(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account == "seller", LedgerEntry.seller_id == seller_id
            )
        )
        return int(total.scalar_one())


async def test_a_dispute_opened_answered_and_lost_debits_amount_and_fee(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, seller_id, buyer, order_id = await delivered_order(client, container)
    before = await seller_total(container, seller_id)  # 3000 - 300 commission
    async with sandbox(container) as provider:
        r = await provider.post(
            f"/sandbox/payments/{await provider_payment(container, order_id)}/disputes",
            json={"amount": {"amount": 3000, "currency": "USD"}, "reason": "fraudulent"},
        )
        assert r.status_code == 201, r.text
        mine = (await client.get(f"{API}/sellers/me/disputes", headers=seller)).json()["items"]
        assert [(d["status"], d["amount"]["amount"], d["order_id"]) for d in mine] == [("open", 3000, order_id)]
        seen = (await client.get(f"{API}/orders/{order_id}", headers=buyer)).json()
        assert [(d["status"], d["reason"]) for d in seen["disputes"]] == [("open", "fraudulent")]
        assert await seller_total(container, seller_id) == before - 3000  # the provider took the money back

        answered = await client.post(
            f"{API}/sellers/me/disputes/{mine[0]['id']}/evidence",
            json={"text": "Delivered with signature, tracking 1Z999AA1"},
            headers=seller,
        )
        assert answered.status_code == 200 and answered.json()["status"] == "under_review"
        _, other = await new_user(client)
        r2 = await client.post(f"{API}/sellers/me/disputes/{mine[0]['id']}/evidence", json={"text": "x"}, headers=other)
        assert r2.status_code == 403  # not a seller

        lost = await provider.post(f"/sandbox/disputes/{r.json()['id']}/resolve", json={"outcome": "lost"})
        assert lost.status_code == 200
    assert await seller_total(container, seller_id) == before - 3000 - DISPUTE_FEE
    closed = (await client.get(f"{API}/sellers/me/disputes", headers=seller)).json()["items"][0]
    assert closed["status"] == "lost" and closed["fee"]["amount"] == DISPUTE_FEE
    late = await client.post(
        f"{API}/sellers/me/disputes/{closed['id']}/evidence", json={"text": "more"}, headers=seller
    )
    assert code_of(late) == (409, "dispute_closed")
    admin = await new_admin(client, container)
    listed = (await client.get(f"{API}/admin/disputes", params={"status": "lost"}, headers=admin)).json()
    assert [d["id"] for d in listed["items"]] == [closed["id"]]
    sellers = (await client.get(f"{API}/admin/sellers", headers=admin)).json()["items"]
    assert [s["open_disputes"] for s in sellers if s["id"] == seller_id] == [0]
    await check_books(container)


async def test_webhooks_are_signed_replay_safe_and_order_independent(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, seller_id, _, order_id = await delivered_order(client, container, price=2000)
    before = await seller_total(container, seller_id)
    ledger = container.payment_sandbox.state.ledger
    container.payment_sandbox.state.webhook_target = None  # hold the sandbox's webhooks back: we deliver them
    async with sandbox(container) as provider:
        pid = await provider_payment(container, order_id)
        lost = (
            await provider.post(
                f"/sandbox/payments/{pid}/disputes", json={"amount": {"amount": 500, "currency": "USD"}}
            )
        ).json()
        await provider.post(f"/sandbox/disputes/{lost['id']}/resolve", json={"outcome": "lost"})
        won = (
            await provider.post(
                f"/sandbox/payments/{pid}/disputes", json={"amount": {"amount": 700, "currency": "USD"}}
            )
        ).json()
        await provider.post(f"/sandbox/disputes/{won['id']}/resolve", json={"outcome": "won"})
    events = [json.dumps(e, separators=(",", ":")).encode() for e in sent_events(ledger)]
    assert len(events) == 4
    secret = container.settings.payment_webhook_secret

    # a bad or missing signature: 401, nothing recorded
    for headers in ({"Bazaar-Signature": sign("wrong-secret", events[0])}, {}):
        r = await client.post(WEBHOOK, content=events[0], headers=headers)
        assert code_of(r) == (401, "invalid_signature")
    tampered = events[0].replace(b"500", b"900")
    assert (
        await client.post(WEBHOOK, content=tampered, headers={"Bazaar-Signature": sign(secret, events[0])})
    ).status_code == 401
    async with container.read_uow() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(Dispute))).scalar_one() == 0
        assert (await uow.session.execute(select(func.count()).select_from(PaymentWebhookEvent))).scalar_one() == 0
    assert await seller_total(container, seller_id) == before

    # newest first (closed before opened), then everything again: each event counts once, nothing goes back
    for body in [*reversed(events), *events]:
        r = await client.post(WEBHOOK, content=body, headers={"Bazaar-Signature": sign(secret, body)})
        assert r.status_code == 200, r.text
    statuses = sorted(
        d["status"] for d in (await client.get(f"{API}/sellers/me/disputes", headers=seller)).json()["items"]
    )
    assert statuses == ["lost", "won"]
    assert await seller_total(container, seller_id) == before - 500 - DISPUTE_FEE  # the won dispute gave 700 back
    bad = await client.post(WEBHOOK, content=b"not json", headers={"Bazaar-Signature": sign(secret, b"not json")})
    assert bad.status_code == 400
    await check_books(container)
