"""The operator console's pages over HTTP: only operators see them; suspend, take down, refund, set commission,
run payouts and hide a review through the forms, each landing in the audit trail."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from bazaar.accounts.standing import grant_admin
from bazaar.bootstrap import Container
from bazaar.workers import payments as payment_workers
from tests.e2e.test_ledger import buy
from tests.e2e.test_orders import seller_with_offers
from tests.e2e.test_storefront import logged_in, post
from tests.helpers import API, drain_events, new_user


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


async def console(client: httpx.AsyncClient, container: Container) -> dict[str, Any]:
    user = await logged_in(client)
    async with container.uow() as uow:
        await grant_admin(uow=uow, email=user["email"], sessions=container.sessions)
    return user


async def notice(client: httpx.AsyncClient, r: httpx.Response) -> str:
    assert r.status_code == 303, r.text[:500]
    page = await client.get(r.headers["location"])
    found = re.search(r'<p class="notice" role="status">([^<]*)</p>', page.text)
    return found.group(1) if found else ""


async def test_only_operators_see_the_console(client: httpx.AsyncClient, container: Container) -> None:
    assert (await client.get("/admin", headers={"accept": "text/html"})).status_code == 303  # to the login page
    await logged_in(client)
    r = await client.get("/admin/sellers", headers={"accept": "text/html"})
    assert r.status_code == 403 and "Not allowed" in r.text
    forged = await post(client, "/admin/sellers/x/suspend", {"reason": "x"})
    assert forged.status_code == 403


async def test_the_operator_runs_the_marketplace_from_the_console(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller_headers, seller_id, (offer,) = await seller_with_offers(client, container, 5, price=4000)
    _, buyer = await new_user(client)
    order_id = await buy(client, buyer, offer, 1, "o-1")
    assert await payment_workers.run_capture(container) >= 1
    await drain_events(container)
    await console(client, container)

    home = await client.get("/admin")
    assert home.status_code == 200 and "$40.00" in home.text and 'data-figure="orders-today">1<' in home.text
    for path in ("/admin/sellers", "/admin/products", "/admin/orders", "/admin/disputes", "/admin/reviews",
                 "/admin/commission", "/admin/payouts", "/admin/audit", f"/admin/orders/{order_id}"):  # fmt: skip
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert "Content-Security-Policy" in r.headers

    assert "reason is required" in await notice(
        client, await post(client, f"/admin/sellers/{seller_id}/suspend", {"reason": " "})
    )
    said = await notice(client, await post(client, f"/admin/sellers/{seller_id}/suspend", {"reason": "counterfeit"}))
    assert "suspended" in said
    assert "counterfeit" in (await client.get("/admin/sellers?status=suspended")).text
    listing = await client.patch(
        f"{API}/sellers/me/offers/{offer.id}", json={"price": {"amount": 1, "currency": "USD"}}, headers=seller_headers
    )
    assert listing.status_code == 403 and listing.json()["error"]["code"] == "seller_suspended"
    assert "reinstated" in await notice(
        client, await post(client, f"/admin/sellers/{seller_id}/reinstate", {"reason": "cleared"})
    )

    said = await notice(
        client, await post(client, f"/admin/products/{offer.product_id}/takedown", {"reason": "recall"})
    )
    assert "taken down" in said
    await drain_events(container)
    assert (await client.get(f"{API}/products/{offer.product_id}")).status_code == 404
    assert "restored" in await notice(client, await post(client, f"/admin/products/{offer.product_id}/restore", {}))

    said = await notice(
        client, await post(client, f"/admin/orders/{order_id}/refund", {"amount": "5.00", "reason": "late"})
    )
    assert "Refunded $5.00" in said
    assert "Not refunded" in await notice(
        client, await post(client, f"/admin/orders/{order_id}/refund", {"amount": "999", "reason": "x"})
    )
    page = (await client.get(f"/admin/orders/{order_id}")).text
    assert "refunded $5.00" in page and "late" in page

    said = await notice(client, await post(client, "/admin/commission", {"default_percent": "12.5"}))
    assert "saved" in said
    assert (await client.get(f"{API}/admin/commission")).json()["default_bps"] == 1250
    assert "percentage" in await notice(client, await post(client, "/admin/commission", {"default_percent": "150"}))

    said = await notice(client, await post(client, "/admin/payouts/run", {}))
    assert "0 paid" in said  # nothing delivered yet: the hold has not even started
    trail = (await client.get("/admin/audit")).text
    for action in (
        "seller.suspend",
        "seller.reinstate",
        "product.takedown",
        "product.restore",
        "order.refund",
        "commission.set",
    ):
        assert action in trail
