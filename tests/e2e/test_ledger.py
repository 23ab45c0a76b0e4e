"""Money to sellers over HTTP: a captured sale enters pending less commission, becomes available after delivery
and the hold, refunds and returns debit it, and a payout run pays exactly sales - commission - refunds through
the sandbox provider; the books balance and every entry traces to an order or payout. On both backends."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bazaar.adapters.sandbox_payments.transfers import ACCOUNT_CLOSED, transfers_total
from bazaar.bootstrap import Container
from bazaar.kernel.clock import utcnow
from bazaar.ledger import service as ledger
from bazaar.ledger.models import LedgerEntry, Payout, SellerAccount
from bazaar.ledger.payouts import run_payouts
from bazaar.orders.models import Order
from bazaar.payments.models import Payment
from bazaar.workers import payments as payment_workers
from tests.e2e.test_admin import new_admin
from tests.e2e.test_checkout import APPROVE
from tests.e2e.test_orders import seller_with_offers
from tests.helpers import API, drain_events, new_user
from tests.inventory_factories import MadeOffer

TAX_FREE = {"name": "Ada Buyer", "line1": "1 Main St", "city": "Portland", "region": "OR", "postal_code": "97201",
            "country": "US"}  # fmt: skip


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


async def buy(client: httpx.AsyncClient, headers: dict[str, str], offer: MadeOffer, qty: int, key: str) -> str:
    r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": qty}, headers=headers)
    assert r.status_code == 200, r.text
    r = await client.post(
        f"{API}/checkout",
        headers={**headers, "Idempotency-Key": key},
        json={"shipping_address": TAX_FREE, "shipping_method": "standard",
              "payment": {"card_number": APPROVE, "exp_month": 12, "exp_year": 2035, "cvc": "123"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["order_id"])


async def deliver(client: httpx.AsyncClient, seller: dict[str, str], buyer: dict[str, str], order_id: str) -> None:
    placed = (await client.get(f"{API}/orders/{order_id}", headers=buyer)).json()
    shipped = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller,
        json={"line_ids": [li["id"] for li in placed["lines"]], "carrier": "UPS", "tracking_number": "1Z999AA1"},
    )
    assert shipped.status_code == 201, shipped.text
    r = await client.post(
        f"{API}/shipments/{shipped.json()['id']}/events", headers=seller, json={"status": "delivered"}
    )
    assert r.status_code == 200, r.text


async def balance(client: httpx.AsyncClient, seller: dict[str, str]) -> tuple[int, int, int]:
    b = (await client.get(f"{API}/sellers/me/balance", headers=seller)).json()
    return b["pending"]["amount"], b["available"]["amount"], b["paid_out"]["amount"]


async def balance_at(container: Container, seller_id: str, at: datetime) -> tuple[int, int, int]:
    """The balance as it will be at `at` (past the hold), as the API will answer then."""
    async with container.read_uow() as uow:
        b = await ledger.balance(uow=uow, seller_id=seller_id, now=at)
    return b.pending.amount, b.available.amount, b.paid_out.amount


async def check_books(container: Container) -> None:
    """Cached balances equal the entries; captured - refunded = the entries of captures and refunds (sellers'
    sales, commission and refunds, the commission account, the tax account); every entry traces somewhere."""
    async with container.read_uow() as uow:
        s = uow.session
        sums = dict((await s.execute(
            select(LedgerEntry.seller_id, func.sum(LedgerEntry.amount)).where(LedgerEntry.account == "seller")
            .group_by(LedgerEntry.seller_id))).all())  # fmt: skip
        cached = dict((await s.execute(select(SellerAccount.seller_id, SellerAccount.balance))).all())
        assert {k: v for k, v in cached.items() if v or k in sums} == {k: int(v) for k, v in sums.items()}
        money_in = (await s.execute(select(func.sum(Payment.captured_amount - Payment.refunded_amount)))).scalar()
        posted = (await s.execute(select(func.sum(LedgerEntry.amount)).where(
            LedgerEntry.kind.in_(("sale", "commission", "refund", "tax"))))).scalar()  # fmt: skip
        assert int(money_in or 0) == int(posted or 0)
        orphans = await s.execute(
            select(func.count())
            .select_from(LedgerEntry)
            .where(~LedgerEntry.order_id.in_(select(Order.id)) & ~LedgerEntry.payout_id.in_(select(Payout.id)))
        )
        assert orphans.scalar_one() == 0


async def test_sale_to_payout_pays_sales_less_commission_and_refunds(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, seller_id, (a, b) = await seller_with_offers(client, container, 10, 10, price=2500)
    _, buyer = await new_user(client)
    admin = await new_admin(client, container)
    order_id = await buy(client, buyer, a, 2, "o-1")  # 5000, nothing taxed in Oregon
    assert await payment_workers.run_capture(container) >= 1
    await drain_events(container)
    assert await balance(client, seller) == (4500, 0, 0)  # 10 % commission by default
    kinds = [
        (e["kind"], e["amount"]["amount"])
        for e in (await client.get(f"{API}/sellers/me/ledger", headers=seller)).json()["items"]
    ]
    assert sorted(kinds) == [("commission", -500), ("sale", 5000)]

    # the operator raises the rate: sales from now on pay it, the first sale keeps its rate
    r = await client.put(f"{API}/admin/commission", json={"default_bps": 2000, "categories": {}}, headers=admin)
    assert r.status_code == 200 and r.json()["default_bps"] == 2000
    bad = await client.put(
        f"{API}/admin/commission", json={"default_bps": 100, "categories": {"nope": 5}}, headers=admin
    )
    assert (
        bad.status_code == 422
        and (await client.get(f"{API}/admin/commission", headers=admin)).json()["default_bps"] == 2000
    )
    second = await buy(client, buyer, b, 1, "o-2")  # 2500 at 20 %
    assert await payment_workers.run_capture(container) >= 1
    await drain_events(container)
    assert await balance(client, seller) == (4500 + 2000, 0, 0)

    # delivered: still pending during the hold; a goodwill refund debits the seller (commission on it comes back)
    await deliver(client, seller, buyer, order_id)
    await deliver(client, seller, buyer, second)
    await drain_events(container)
    assert await balance(client, seller) == (6500, 0, 0)
    refund = await client.post(
        f"{API}/admin/orders/{order_id}/refund",
        json={"amount": {"amount": 1000, "currency": "USD"}, "reason": "scratched"}, headers=admin,
    )  # fmt: skip
    assert refund.status_code == 201, refund.text
    await drain_events(container)
    assert await balance(client, seller) == (6500 - 1000 + 100, 0, 0)
    assert (await client.get(f"{API}/orders/{order_id}", headers=buyer)).json()["payment"]["refunded"]["amount"] == 1000

    # before the hold ends nothing is paid; after it, exactly sales - commission - refunds
    early = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli")
    assert early.paid == 0
    later = utcnow() + timedelta(days=15)
    report = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli", now=later)
    sales, commission, refunds = 5000 + 2500, 500 + 500 - 100, 1000
    assert report.paid == 1 and report.amount == sales - commission - refunds == 5600
    assert transfers_total(container.payment_sandbox.state.ledger) == (1, 5600)
    again = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli", now=later)
    assert again.paid == 0 and transfers_total(container.payment_sandbox.state.ledger) == (1, 5600)
    assert await balance_at(container, seller_id, later) == (0, 0, 5600)
    assert (await balance(client, seller))[2] == 5600
    paid = (await client.get(f"{API}/sellers/me/payouts", headers=seller)).json()["items"]
    assert [(p["status"], p["amount"]["amount"]) for p in paid] == [("paid", 5600)]
    listed = (await client.get(f"{API}/admin/sellers", headers=admin)).json()["items"]
    assert [s["balance"]["amount"] for s in listed if s["id"] == seller_id] == [0]
    await check_books(container)


async def test_a_refused_payout_gives_the_money_back_and_the_next_run_pays_it(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, seller_id, (a,) = await seller_with_offers(client, container, 5, price=1000)
    _, buyer = await new_user(client)
    order_id = await buy(client, buyer, a, 1, "o-1")
    assert await payment_workers.run_capture(container) >= 1
    await deliver(client, seller, buyer, order_id)
    await drain_events(container)
    r = await client.put(f"{API}/sellers/me/payout-account", json={"account": ACCOUNT_CLOSED}, headers=seller)
    assert r.status_code == 200
    assert (
        await client.put(f"{API}/sellers/me/payout-account", json={"account": "x"}, headers=seller)
    ).status_code == 422
    later = utcnow() + timedelta(days=15)
    failed = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli", now=later)
    assert failed.failed == 1 and failed.paid == 0
    assert await balance_at(container, seller_id, later) == (0, 900, 0)  # the money is back
    payouts = (await client.get(f"{API}/sellers/me/payouts", headers=seller)).json()["items"]
    assert payouts[0]["status"] == "failed" and payouts[0]["failure_code"] == "account_closed"
    await client.put(f"{API}/sellers/me/payout-account", json={"account": "000123456789"}, headers=seller)
    paid = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli", now=later)
    assert paid.paid == 1 and paid.amount == 900
    assert await balance_at(container, seller_id, later) == (0, 0, 900)
    await drain_events(container)
    await check_books(container)


async def test_a_suspended_seller_is_not_paid_until_reinstated(client: httpx.AsyncClient, container: Container) -> None:
    seller, seller_id, (a,) = await seller_with_offers(client, container, 5, price=1000)
    _, buyer = await new_user(client)
    admin = await new_admin(client, container)
    order_id = await buy(client, buyer, a, 1, "o-1")
    assert await payment_workers.run_capture(container) >= 1
    await deliver(client, seller, buyer, order_id)
    await drain_events(container)
    await client.post(f"{API}/admin/sellers/{seller_id}/suspend", json={"reason": "fraud check"}, headers=admin)
    later = utcnow() + timedelta(days=15)
    held = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli", now=later)
    assert held.paid == 0 and await balance_at(container, seller_id, later) == (0, 900, 0)
    await client.post(f"{API}/admin/sellers/{seller_id}/reinstate", headers=admin)
    paid = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli", now=later)
    assert paid.paid == 1 and paid.amount == 900


async def test_a_cancelled_order_nets_to_nothing_and_a_return_debits_its_seller(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, _, (a,) = await seller_with_offers(client, container, 5, price=1000)
    _, buyer = await new_user(client)
    cancelled = await buy(client, buyer, a, 1, "o-1")
    assert await payment_workers.run_capture(container) >= 1
    assert (await client.post(f"{API}/orders/{cancelled}/cancel", headers=buyer)).status_code == 200
    await drain_events(container)
    assert await balance(client, seller) == (0, 0, 0)
    kept = await buy(client, buyer, a, 2, "o-2")
    assert await payment_workers.run_capture(container) >= 1
    await deliver(client, seller, buyer, kept)
    placed: dict[str, Any] = (await client.get(f"{API}/orders/{kept}", headers=buyer)).json()
    lines = [{"order_line_id": placed["lines"][0]["id"], "quantity": 1}]
    ret = await client.post(f"{API}/orders/{kept}/returns", headers=buyer, json={"lines": lines, "reason": "x"})
    assert ret.status_code == 201, ret.text
    assert (
        await client.post(f"{API}/sellers/me/returns/{ret.json()['id']}/receive", headers=seller)
    ).status_code == 200
    await drain_events(container)
    assert await balance(client, seller) == (2000 - 200 - 1000 + 100, 0, 0)
    await check_books(container)
