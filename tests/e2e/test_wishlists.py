"""Wish lists, "notify me" and recently viewed over HTTP; alerts come from the stock and catalog events,
one notification and one email per buyer per change, however often the events come."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select

from bazaar.db.consumers import deliver, event_from_row
from bazaar.db.outbox import InboxEntry, OutboxEvent
from bazaar.workers import mail_sender
from tests.catalog_builder import api_offer, api_product, make_categories
from tests.helpers import API, drain_events, new_seller, new_user
from tests.smtp_server import SmtpServer, text_of


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings_factory, smtp):  # type: ignore[no-untyped-def]
    return settings_factory(smtp_url=smtp.url, public_url="http://shop.test")


async def listing(client: Any, container: Any, *, quantity: int, price: int = 2500) -> tuple[dict, dict, dict]:
    """A seller's product with one offer; answers (product, offer, seller headers)."""
    _, seller = await new_seller(client)
    if "test_categories" not in container.extras:
        container.extras["test_categories"] = await make_categories(container)
    category_id = next(iter(container.extras["test_categories"].values()))
    product = await api_product(client, seller, title="Lumen desk lamp", brand="Lumen", category_id=category_id)
    offer = await api_offer(client, seller, sku_id=product["skus"][0]["id"], price=price, quantity=quantity)
    await drain_events(container)
    return product, offer, seller


async def restock(client: Any, seller: dict, offer: dict, quantity: int) -> None:
    r = await client.patch(f"{API}/sellers/me/offers/{offer['id']}", json={"quantity": quantity}, headers=seller)
    assert r.status_code == 200, r.text


async def alerts(client: Any, headers: dict, kind: str) -> list[dict]:
    items = (await client.get(f"{API}/notifications", headers=headers)).json()["items"]
    return [n for n in items if n["kind"] == kind]


async def send_mail(container: Any) -> None:
    await drain_events(container)
    while await mail_sender.run_once(container):
        pass


async def test_wishlist_add_list_remove(client: Any, container: Any) -> None:
    product, _, _ = await listing(client, container, quantity=3)
    _, h = await new_user(client)
    added = await client.post(f"{API}/me/wishlist", json={"product_id": product["id"]}, headers=h)
    assert added.status_code == 201, added.text
    assert added.json()["product"]["in_stock"] is True and added.json()["price_when_added"] == 2500
    again = await client.post(f"{API}/me/wishlist", json={"product_id": product["id"]}, headers=h)
    assert again.status_code == 201
    page = (await client.get(f"{API}/me/wishlist", headers=h)).json()
    assert page["total"] == 1 and page["items"][0]["product"]["title"] == "Lumen desk lamp"
    assert (await client.post(f"{API}/me/wishlist", json={"product_id": "nope"}, headers=h)).status_code == 404
    assert (await client.delete(f"{API}/me/wishlist/{product['id']}", headers=h)).status_code == 204
    assert (await client.delete(f"{API}/me/wishlist/{product['id']}", headers=h)).status_code == 404
    assert (await client.get(f"{API}/me/wishlist", headers=h)).json()["total"] == 0
    assert (await client.get(f"{API}/me/wishlist")).status_code == 401


async def test_restock_alerts_each_buyer_once_even_when_the_event_comes_twice(
    client: Any, container: Any, smtp: SmtpServer
) -> None:
    product, offer, seller = await listing(client, container, quantity=0)
    buyers = [await new_user(client) for _ in range(2)]
    for _, h in buyers:
        assert (
            await client.post(f"{API}/me/wishlist", json={"product_id": product["id"]}, headers=h)
        ).status_code == 201

    await restock(client, seller, offer, 5)
    await send_mail(container)
    # The restock event delivered again: once more through the inbox, and once as if the inbox had lost it.
    async with container.read_uow() as uow:
        rows = (
            await uow.session.execute(
                select(OutboxEvent).where(OutboxEvent.topic == "inventory.stock_changed.v1").order_by(OutboxEvent.id)
            )
        ).scalars()
        restocked = event_from_row(list(rows)[-1])
    subscription = next(s for s in container.subscriptions if s.consumer == "wishlist-alerts")
    assert await deliver(container.uow, subscription, restocked) is False
    async with container.uow() as uow:
        await uow.session.execute(delete(InboxEntry).where(InboxEntry.event_id == restocked["event_id"]))
        await uow.commit()
    assert await deliver(container.uow, subscription, restocked) is True
    # A flood of restocks: the seller changes the stock again and again.
    for quantity in (7, 9, 12):
        await restock(client, seller, offer, quantity)
    await send_mail(container)

    for user, h in buyers:
        told = await alerts(client, h, "back_in_stock")
        assert len(told) == 1, told
        assert "Lumen desk lamp" in told[0]["subject"]
        mails = [m for m in smtp.to(user["email"]) if m["X-Bazaar-Kind"] == "back_in_stock"]
        assert len(mails) == 1
        assert "Back in stock: Lumen desk lamp" in mails[0]["Subject"]
        assert f"http://shop.test/p/{product['id']}" in text_of(mails[0])


async def test_price_drop_alerts_wishers_once_per_drop(client: Any, container: Any, smtp: SmtpServer) -> None:
    product, offer, seller = await listing(client, container, quantity=5, price=2500)
    user, h = await new_user(client)
    await client.post(f"{API}/me/wishlist", json={"product_id": product["id"]}, headers=h)
    raised = await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}", json={"price": {"amount": 2700, "currency": "USD"}}, headers=seller
    )
    assert raised.status_code == 200
    await send_mail(container)
    assert await alerts(client, h, "price_drop") == []  # dearer is not news
    cut = await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}", json={"price": {"amount": 1999, "currency": "USD"}}, headers=seller
    )
    assert cut.status_code == 200
    await send_mail(container)
    told = await alerts(client, h, "price_drop")
    assert len(told) == 1 and "$19.99" in told[0]["body"] and "$25.00" in told[0]["body"]
    mails = [m for m in smtp.to(user["email"]) if m["X-Bazaar-Kind"] == "price_drop"]
    assert len(mails) == 1 and "$19.99" in text_of(mails[0])
    # Another cut within the cooldown waits: the buyer is not flooded.
    await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}", json={"price": {"amount": 1899, "currency": "USD"}}, headers=seller
    )
    await send_mail(container)
    assert len(await alerts(client, h, "price_drop")) == 1


async def test_notify_me_tells_once_without_a_wishlist(client: Any, container: Any, smtp: SmtpServer) -> None:
    product, offer, seller = await listing(client, container, quantity=0)
    user, h = await new_user(client)
    asked = await client.post(f"{API}/me/stock-alerts", json={"product_id": product["id"]}, headers=h)
    assert asked.status_code == 201, asked.text
    assert (await client.get(f"{API}/me/stock-alerts", headers=h)).json()["total"] == 1
    assert (await client.get(f"{API}/me/wishlist", headers=h)).json()["total"] == 0
    await restock(client, seller, offer, 4)
    await send_mail(container)
    assert len(await alerts(client, h, "back_in_stock")) == 1
    assert len([m for m in smtp.to(user["email"]) if m["X-Bazaar-Kind"] == "back_in_stock"]) == 1
    assert (await client.get(f"{API}/me/stock-alerts", headers=h)).json()["total"] == 0  # answered
    # In stock now: "notify me" has nothing to wait for.
    again = await client.post(f"{API}/me/stock-alerts", json={"product_id": product["id"]}, headers=h)
    assert again.status_code == 409 and again.json()["error"]["code"] == "product_in_stock"
    # Sold out and back again: nobody asked any more, nobody is told.
    await restock(client, seller, offer, 0)
    await restock(client, seller, offer, 3)
    await send_mail(container)
    assert len(await alerts(client, h, "back_in_stock")) == 1


async def test_recently_viewed(client: Any, container: Any) -> None:
    first, _, _ = await listing(client, container, quantity=2)
    second, _, _ = await listing(client, container, quantity=2)
    _, h = await new_user(client)
    for product in (first, second, first):
        assert (await client.get(f"{API}/products/{product['id']}", headers=h)).status_code == 200
        await container.cache.delete(f"rv:{(await client.get(f'{API}/me', headers=h)).json()['id']}:{product['id']}")
    assert (await client.get(f"{API}/products/{second['id']}")).status_code == 200  # anonymous: nothing to remember
    seen = (await client.get(f"{API}/me/recently-viewed", headers=h)).json()
    assert [i["product_id"] for i in seen["items"]] == [first["id"], second["id"]]
    assert seen["items"][0]["product"]["price_from"]["amount"] == 2500
    assert (await client.get(f"{API}/me/recently-viewed")).status_code == 401


async def test_wishing_the_same_product_at_once(client: Any, container: Any, pg_only: None) -> None:
    """Parallel adds of one product on PostgreSQL make one wish-list entry and no error."""
    import asyncio

    product, _, _ = await listing(client, container, quantity=1)
    _, h = await new_user(client)
    answers = await asyncio.gather(
        *(client.post(f"{API}/me/wishlist", json={"product_id": product["id"]}, headers=h) for _ in range(6))
    )
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert (await client.get(f"{API}/me/wishlist", headers=h)).json()["total"] == 1
