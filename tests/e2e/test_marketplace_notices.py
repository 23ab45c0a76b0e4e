"""What sellers and buyers hear while the marketplace runs: notifications and emails for disputes, payouts,
goodwill refunds and suspension; and the /metrics figures for disputes, payouts and the ledger."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from bazaar.bootstrap import Container
from bazaar.kernel.clock import utcnow
from bazaar.ledger.payouts import run_payouts
from bazaar.mail.models import MailMessage
from tests.e2e.test_admin import new_admin
from tests.e2e.test_disputes import WEBHOOK, delivered_order, provider_payment, sandbox
from tests.helpers import API, drain_events


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


async def kinds(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    return [n["kind"] for n in (await client.get(f"{API}/notifications", headers=headers)).json()["items"]]


async def emails(container: Container) -> list[tuple[str, str]]:
    async with container.read_uow() as uow:
        rows = await uow.session.execute(select(MailMessage.kind, MailMessage.subject).order_by(MailMessage.created_at))
        return [(k, s) for k, s in rows]


async def test_sellers_and_buyers_hear_of_disputes_payouts_refunds_and_suspension(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, seller_id, buyer, order_id = await delivered_order(client, container, price=5000)
    admin = await new_admin(client, container)
    async with sandbox(container) as provider:
        opened = await provider.post(
            f"/sandbox/payments/{await provider_payment(container, order_id)}/disputes",
            json={"amount": {"amount": 1000, "currency": "USD"}, "reason": "not_received"},
        )
        await provider.post(f"/sandbox/disputes/{opened.json()['id']}/resolve", json={"outcome": "won"})
    refund = await client.post(
        f"{API}/admin/orders/{order_id}/refund", json={"amount": {"amount": 300, "currency": "USD"}, "reason": "sorry"},
        headers=admin,
    )  # fmt: skip
    assert refund.status_code == 201
    await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli",
                      now=utcnow() + timedelta(days=15))  # fmt: skip
    await client.post(f"{API}/admin/sellers/{seller_id}/suspend", json={"reason": "paperwork"}, headers=admin)
    await drain_events(container)

    heard = await kinds(client, seller)
    for kind in ("dispute_opened", "dispute_closed", "payout_sent", "seller_standing", "goodwill_refund"):
        assert kind in heard, (kind, heard)
    told = await kinds(client, buyer)
    for kind in ("dispute_opened", "dispute_closed", "refund_issued"):
        assert kind in told, (kind, told)
    sent = await emails(container)
    assert any(k == "dispute_opened" and "answer with evidence" in s for k, s in sent), sent
    assert any(k == "payout_sent" and "Payout of" in s for k, s in sent), sent

    await client.post(WEBHOOK, content=b"{}", headers={"Bazaar-Signature": "nope"})
    metrics = (await client.get("/metrics")).text
    assert 'bazaar_disputes{status="won"} 1.0' in metrics
    assert 'bazaar_payouts{status="paid"} 1.0' in metrics
    assert 'bazaar_ledger_total{account="seller",kind="sale"} 5000.0' in metrics
    assert 'bazaar_payment_webhooks_total{outcome="bad_signature"}' in metrics
