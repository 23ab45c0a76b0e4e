"""The seller's flash-sale page over HTTP: schedule a sale from the form and see it listed and coming on the product
page; a bad form answers 422 with its message, keeps what was typed and schedules nothing; cancel, and only the
owner may; buyers are refused the page; on both backends."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bazaar.bootstrap import Container
from bazaar.kernel.clock import utcnow
from bazaar.web.storefront.pages import seller_flash
from tests.e2e.test_flash_sales import sale_body
from tests.e2e.test_storefront import PASSWORD, post
from tests.helpers import API, new_user
from tests.inventory_factories import MadeOffer, make_offer


@asynccontextmanager
async def browser(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def log_in(page: httpx.AsyncClient, *, seller: bool) -> tuple[dict[str, str], str]:
    """A new user (a seller if asked) logged in to the storefront; answers their API headers and seller id."""
    user, headers = await new_user(page)
    seller_id = ""
    if seller:
        r = await page.post(f"{API}/sellers", json={"display_name": "Flash Shop"}, headers=headers)
        assert r.status_code == 201, r.text
        seller_id = r.json()["id"]
    r = await post(page, "/login", {"email": user["email"], "password": PASSWORD, "next": "/seller"})
    assert r.status_code == 303, r.text
    return headers, seller_id


def moment(delta: timedelta) -> str:
    """As a datetime-local input sends it (UTC, to the minute)."""
    return (utcnow() + delta).strftime("%Y-%m-%dT%H:%M")


def form(offer: MadeOffer, **changes: str) -> dict[str, str]:
    typed = {
        "offer_id": offer.id,
        "price": "9.99",
        "units": "5",
        "per_buyer_limit": "2",
        "starts_at": moment(timedelta(hours=1)),
        "ends_at": moment(timedelta(hours=2)),
    }
    return {**typed, **changes}


async def my_sales(page: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await page.get(f"{API}/sellers/me/flash-sales", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_seller_schedules_a_sale_and_sees_it_listed_and_coming(
    client: httpx.AsyncClient, container: Container
) -> None:
    headers, seller_id = await log_in(client, seller=True)
    offer = await make_offer(container, quantity=20, seller_id=seller_id, price=2999)
    dashboard = (await client.get("/seller")).text
    assert 'href="/seller/flash-sales"' in dashboard and f'href="/seller/flash-sales?offer={offer.id}"' in dashboard
    empty = await client.get("/seller/flash-sales")
    assert empty.status_code == 200 and "No flash sales yet" in empty.text
    assert f'<option value="{offer.id}"' in empty.text and "$29.99, 20 in stock" in empty.text

    typed = form(offer)
    r = await post(client, "/seller/flash-sales", typed)
    assert r.status_code == 303 and r.headers["location"] == "/seller/flash-sales", r.text
    listed = (await client.get("/seller/flash-sales")).text
    assert f"The flash sale is scheduled: it starts {typed['starts_at'].replace('T', ' ')} UTC" in listed
    row = listed.split('<tr id="sale-', 1)[1].split("</tr>", 1)[0]
    assert offer.title in row and "$9.99" in row and '<s class="was">$29.99</s>' in row
    assert "5: 0 sold, 0 held, 5 left" in row and ">2</td>" in row and ">Scheduled<" in row
    assert typed["starts_at"].replace("T", " ") in row and "Cancel sale" in row

    (sale,) = await my_sales(client, headers)
    assert (sale["offer_id"], sale["price"]["amount"], sale["units"], sale["per_buyer_limit"]) == (offer.id, 999, 5, 2)
    assert sale["starts_at"].startswith(typed["starts_at"]) and sale["ends_at"].startswith(typed["ends_at"])
    product = (await client.get(f"/p/{offer.product_id}")).text
    assert "Flash sale coming" in product and "$9.99" in product and "at most 2 per buyer" in product


async def test_a_bad_form_answers_422_with_its_message_and_schedules_nothing(
    client: httpx.AsyncClient, container: Container, app: Any
) -> None:
    headers, seller_id = await log_in(client, seller=True)
    offer = await make_offer(container, quantity=5, seller_id=seller_id, price=2999)
    async with browser(app) as stranger:
        other_headers, other_id = await log_in(stranger, seller=True)
    other = await make_offer(container, quantity=5, seller_id=other_id)
    cases: list[tuple[dict[str, str], str]] = [
        (form(offer, ends_at=moment(timedelta(minutes=30))), "The sale must end after it starts"),
        (form(offer, units="6"), "The offer has 5 units available, fewer than the sale&#39;s 6"),
        (form(offer, price="abc"), "Enter a price in dollars, such as 12.99"),
        (form(offer, price="1e30"), "Enter a price in dollars, such as 12.99"),
        (form(offer, price="inf"), "Enter a price in dollars, such as 12.99"),
        (form(offer, price="-1"), "Enter a price in dollars, such as 12.99"),
        (form(offer, price="9.999"), "Enter a price in dollars, such as 12.99"),
        (form(offer, units="abc"), "Enter a whole number of units"),
        (form(offer, units="1e3"), "Enter a whole number of units"),
        (form(offer, units="0"), "greater than or equal to 1"),
        (form(offer, per_buyer_limit="6", units="5"), "The per-buyer limit cannot be more than the units on sale"),
        (form(offer, per_buyer_limit="101"), "less than or equal to 100"),
        (form(offer, starts_at=moment(timedelta(hours=-2))), "The sale cannot start in the past"),
        (form(offer, starts_at="tomorrow"), "Enter a date and time (UTC)"),
        (form(offer, starts_at="0001-01-01T00:00+01:00", ends_at="9999-12-31T23:59-01:00"), "start in the past"),
        (form(offer, starts_at=moment(timedelta(days=400)), ends_at=moment(timedelta(days=401))), "within 365 days"),
        (form(offer, ends_at=moment(timedelta(days=20))), "A flash sale lasts at most 14 days"),
        (form(offer, offer_id=other.id), "Choose one of your active listings"),
        (form(offer, offer_id="x" * 5000), "at most 32 characters"),
        (form(offer, price=""), "Enter a price in dollars, such as 12.99"),
    ]
    for typed, message in cases:
        r = await post(client, "/seller/flash-sales", typed)
        assert r.status_code == 422, (typed, r.status_code, r.text[:300])
        assert message in r.text, (typed, message)
        assert f'value="{typed["price"]}"' in r.text and f'value="{typed["starts_at"]}"' in r.text  # kept as typed
    assert await my_sales(client, headers) == []
    assert await my_sales(client, other_headers) == []

    # The window is taken: the clash is named, the first sale stays the only one.
    assert (await post(client, "/seller/flash-sales", form(offer, units="2"))).status_code == 303
    clash = await post(client, "/seller/flash-sales", form(offer, units="1", per_buyer_limit="1"))
    assert clash.status_code == 422 and "already has a flash sale in that window" in clash.text
    assert len(await my_sales(client, headers)) == 1


async def test_cancel_and_who_may(client: httpx.AsyncClient, container: Container, app: Any) -> None:
    headers, seller_id = await log_in(client, seller=True)
    offer = await make_offer(container, quantity=10, seller_id=seller_id)
    created = await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id), headers=headers)
    sale_id = created.json()["id"]
    container.flash_calendar.forget()
    assert "Flash sale coming" in (await client.get(f"/p/{offer.product_id}")).text
    cancel = f"/seller/flash-sales/{sale_id}/cancel"
    async with browser(app) as rival, browser(app) as shopper, browser(app) as visitor:
        await log_in(rival, seller=True)
        refused = await post(rival, cancel, {})
        assert refused.status_code == 404 and "No such flash sale" in refused.text
        assert "Cancel sale" not in (await rival.get("/seller/flash-sales")).text
        await log_in(shopper, seller=False)
        page = await shopper.get("/seller/flash-sales")
        assert page.status_code == 403 and "for sellers" in page.text
        assert (await post(shopper, cancel, {})).status_code == 403
        assert (await post(shopper, "/seller/flash-sales", form(offer))).status_code == 403
        assert (await visitor.get("/seller/flash-sales")).headers["location"].startswith("/login")
    forged = await client.post(cancel, data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert [s["status"] for s in await my_sales(client, headers)] == ["scheduled"]

    r = await post(client, cancel, {})
    assert r.status_code == 303
    listed = (await client.get(r.headers["location"])).text
    assert "The flash sale is cancelled" in listed and ">Cancelled<" in listed and "Cancel sale" not in listed
    assert [s["status"] for s in await my_sales(client, headers)] == ["cancelled"]
    assert "Flash sale" not in (await client.get(f"/p/{offer.product_id}")).text
    again = await post(client, cancel, {})
    assert "already ended" in (await client.get(again.headers["location"])).text


async def test_many_sales_are_paged_newest_first(client: httpx.AsyncClient, container: Container) -> None:
    headers, seller_id = await log_in(client, seller=True)
    offer = await make_offer(container, quantity=10, seller_id=seller_id)
    now = utcnow()
    for day in range(21):
        starts = now + timedelta(days=day, hours=1)
        body = sale_body(offer.id, starts_at=starts.isoformat(), ends_at=(starts + timedelta(hours=1)).isoformat())
        assert (await client.post(f"{API}/sellers/me/flash-sales", json=body, headers=headers)).status_code == 201
    first = (await client.get("/seller/flash-sales")).text
    assert "Your flash sales (21)" in first and first.count('<tr id="sale-') == 20 and "Page 1 of 2" in first
    windows = re.findall(r'data-label="Window">(\S+ \S+) ', first)
    assert windows == sorted(windows, reverse=True)
    assert windows[0].startswith((now + timedelta(days=20, hours=1)).date().isoformat())
    last = (await client.get("/seller/flash-sales", params={"page": "2"})).text
    assert last.count('<tr id="sale-') == 1 and "Page 2 of 2" in last
    for junk in ("0", "-1", "abc", "9" * 40):
        assert (await client.get("/seller/flash-sales", params={"page": junk})).status_code == 200


async def test_flash_sale_beside_an_older_listing_picks_it(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seller_flash, "OFFER_CHOICES", 1)  # the select holds the newest listing only
    headers, seller_id = await log_in(client, seller=True)
    older = await make_offer(container, quantity=10, seller_id=seller_id, title="Older Lamp")
    newer = await make_offer(container, quantity=10, seller_id=seller_id, title="Newer Lamp")
    plain = (await client.get("/seller/flash-sales")).text
    assert f'value="{newer.id}"' in plain and f'value="{older.id}"' not in plain
    picked = (await client.get("/seller/flash-sales", params={"offer": older.id})).text
    assert f'<option value="{older.id}" selected>Older Lamp — $' in picked
    r = await post(client, "/seller/flash-sales", form(older))
    assert r.status_code == 303
    assert [s["offer_id"] for s in await my_sales(client, headers)] == [older.id]
