"""Order lifecycle over HTTP: capture, shipping, tracking, delivery, cancellation, returns and refunds,
who may see what, notifications and seller figures; on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bazaar.kernel.clock import utcnow
from bazaar.shipping.models import Shipment
from bazaar.workers import payments as payment_workers
from tests.e2e.test_checkout import ADDRESS, APPROVE
from tests.helpers import API, drain_events, new_user
from tests.inventory_factories import MadeOffer, levels, make_offer, make_seller


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


async def seller_with_offers(
    client: httpx.AsyncClient, container: Any, *quantities: int, price: int = 1000
) -> tuple[dict[str, str], str, list[MadeOffer]]:
    user, headers = await new_user(client)
    seller_id = await make_seller(container, user_id=user["id"])
    offers = [await make_offer(container, quantity=q, price=price, seller_id=seller_id) for q in quantities]
    return headers, seller_id, offers


async def place(
    client: httpx.AsyncClient, headers: dict[str, str], *lines: tuple[MadeOffer, int], key: str = "order-1"
) -> str:
    for offer, qty in lines:
        r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": qty}, headers=headers)
        assert r.status_code == 200, r.text
    r = await client.post(
        f"{API}/checkout",
        headers={**headers, "Idempotency-Key": key},
        json={
            "shipping_address": ADDRESS,
            "shipping_method": "standard",
            "payment": {"card_number": APPROVE, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["order_id"])


async def order(client: httpx.AsyncClient, headers: dict[str, str], order_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/orders/{order_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def code_of(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


async def test_full_lifecycle_ship_deliver_return_refund(client: httpx.AsyncClient, container: Any) -> None:
    seller, _, (a, b) = await seller_with_offers(client, container, 5, 5)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (a, 2), (b, 1))
    placed = await order(client, buyer, order_id)
    assert placed["status"] == "pending" and placed["payment"]["status"] == "authorized"
    assert (await client.get(f"{API}/orders", headers=buyer)).json()["items"][0]["id"] == order_id

    # shipping waits for the capture
    line_a, line_b = sorted(placed["lines"], key=lambda li: li["offer_id"] != a.id)
    early = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller,
        json={"line_ids": [line_a["id"]], "carrier": "UPS", "tracking_number": "1Z999"},
    )
    assert code_of(early) == (409, "not_shippable")
    assert await payment_workers.run_capture(container) >= 1
    captured = await order(client, buyer, order_id)
    assert captured["status"] == "processing"
    assert captured["payment"]["captured"] == captured["total"]

    # a partial shipment, then the rest: the order is shipped when every line is
    first = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller,
        json={"line_ids": [line_a["id"]], "carrier": "UPS", "tracking_number": "1Z999"},
    )
    assert first.status_code == 201, first.text
    assert (await order(client, buyer, order_id))["status"] == "processing"
    again = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller,
        json={"line_ids": [line_a["id"]], "carrier": "UPS", "tracking_number": "1Z998"},
    )
    assert code_of(again) == (409, "not_shippable")
    second = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller,
        json={"line_ids": [line_b["id"]], "carrier": "USPS", "tracking_number": "9400111"},
    )
    assert second.status_code == 201
    assert (await order(client, buyer, order_id))["status"] == "shipped"
    assert code_of(await client.post(f"{API}/orders/{order_id}/cancel", headers=buyer)) == (409, "not_cancellable")

    # carrier events; delivered when every shipment is
    for shipment in (first.json(), second.json()):
        for status in ("in_transit", "out_for_delivery", "delivered"):
            r = await client.post(
                f"{API}/shipments/{shipment['id']}/events",
                headers=seller,
                json={"status": status, "location": "Austin, TX"},
            )
            assert r.status_code == 200, r.text
    delivered = await order(client, buyer, order_id)
    assert delivered["status"] == "delivered"
    assert [h["status"] for h in delivered["history"]] == ["pending", "processing", "shipped", "delivered"]
    assert len(delivered["shipments"][0]["events"]) == 4
    late = await client.post(
        f"{API}/shipments/{first.json()['id']}/events", headers=seller, json={"status": "in_transit"}
    )
    assert code_of(late) == (409, "already_delivered")

    # return one unit of line a: refunds its price and tax, restocks it; the order stays delivered
    too_many = await client.post(
        f"{API}/orders/{order_id}/returns",
        headers=buyer,
        json={"lines": [{"order_line_id": line_a["id"], "quantity": 3}], "reason": "x"},
    )
    assert code_of(too_many) == (409, "not_returnable")
    ret = await client.post(
        f"{API}/orders/{order_id}/returns",
        headers=buyer,
        json={"lines": [{"order_line_id": line_a["id"], "quantity": 1}], "reason": "too big"},
    )
    assert ret.status_code == 201, ret.text
    on_hand_before = (await levels(container, a.id))[0]
    received = await client.post(f"{API}/sellers/me/returns/{ret.json()['id']}/receive", headers=seller)
    assert received.status_code == 200, received.text
    assert received.json()["status"] == "refunded"
    expected = 1000 + line_a["tax"]["amount"] // 2
    assert received.json()["refund"]["amount"] == expected
    assert (await levels(container, a.id))[0] == on_hand_before + 1
    after = await order(client, buyer, order_id)
    assert after["status"] == "delivered"
    assert after["payment"]["status"] == "partially_refunded"
    assert after["payment"]["refunded"]["amount"] == expected
    twice = await client.post(f"{API}/sellers/me/returns/{ret.json()['id']}/receive", headers=seller)
    assert code_of(twice) == (409, "return_not_receivable")

    # returning everything else refunds the rest, shipping included, and the order is returned
    rest = await client.post(
        f"{API}/orders/{order_id}/returns",
        headers=buyer,
        json={
            "lines": [{"order_line_id": line_a["id"], "quantity": 1}, {"order_line_id": line_b["id"], "quantity": 1}],
            "reason": "changed my mind",
        },
    )
    assert rest.status_code == 201, rest.text
    assert (
        await client.post(f"{API}/sellers/me/returns/{rest.json()['id']}/receive", headers=seller)
    ).status_code == 200
    final = await order(client, buyer, order_id)
    assert final["status"] == "returned"
    assert final["payment"]["status"] == "refunded"
    assert final["payment"]["refunded"] == final["payment"]["captured"]


async def test_cancel_before_capture_voids_and_restocks(client: httpx.AsyncClient, container: Any) -> None:
    _, _, (a,) = await seller_with_offers(client, container, 3)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (a, 2))
    assert await levels(container, a.id) == (1, 1)
    r = await client.post(f"{API}/orders/{order_id}/cancel", headers=buyer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["payment"]["status"] == "voided"
    assert await levels(container, a.id) == (3, 3)
    # the capture worker must never capture it afterwards
    await payment_workers.run_capture(container)
    assert (await order(client, buyer, order_id))["payment"]["status"] == "voided"
    assert (await client.post(f"{API}/orders/{order_id}/cancel", headers=buyer)).status_code == 200


async def test_cancel_after_capture_refunds(client: httpx.AsyncClient, container: Any) -> None:
    _, _, (a,) = await seller_with_offers(client, container, 3)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (a, 1))
    await payment_workers.run_capture(container)
    r = await client.post(f"{API}/orders/{order_id}/cancel", headers=buyer)
    assert r.status_code == 200, r.text
    payment = r.json()["payment"]
    assert payment["status"] == "refunded" and payment["refunded"] == payment["captured"]


async def test_orders_are_private_to_buyer_and_their_sellers(client: httpx.AsyncClient, container: Any) -> None:
    seller1, _, (a,) = await seller_with_offers(client, container, 3)
    seller2, _, (b,) = await seller_with_offers(client, container, 3)
    seller3, _, _ = await seller_with_offers(client, container, 1)
    _, buyer = await new_user(client)
    _, stranger = await new_user(client)
    order_id = await place(client, buyer, (a, 1), (b, 1))
    for headers in (stranger, seller3):
        assert code_of(await client.get(f"{API}/orders/{order_id}", headers=headers)) == (404, "not_found")
        assert code_of(await client.post(f"{API}/orders/{order_id}/cancel", headers=headers))[0] == 404
        assert (
            await client.post(
                f"{API}/orders/{order_id}/returns",
                headers=headers,
                json={"lines": [{"order_line_id": "x", "quantity": 1}], "reason": "x"},
            )
        ).status_code == 404
    mine = await order(client, seller1, order_id)
    assert {li["offer_id"] for li in mine["lines"]} == {a.id}
    assert mine["payment"] is None
    assert [o["id"] for o in (await client.get(f"{API}/sellers/me/orders", headers=seller1)).json()["items"]] == [
        order_id
    ]
    assert (await client.get(f"{API}/sellers/me/orders", headers=seller3)).json()["items"] == []
    await payment_workers.run_capture(container)
    line_b = next(li for li in (await order(client, buyer, order_id))["lines"] if li["offer_id"] == b.id)
    foreign = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller1,
        json={"line_ids": [line_b["id"]], "carrier": "UPS", "tracking_number": "1Z0001"},
    )
    assert code_of(foreign) == (409, "not_shippable")
    shipped = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller2,
        json={"line_ids": [line_b["id"]], "carrier": "UPS", "tracking_number": "1Z0002"},
    )
    assert shipped.status_code == 201
    other = await client.post(
        f"{API}/shipments/{shipped.json()['id']}/events", headers=seller1, json={"status": "delivered"}
    )
    assert other.status_code == 404  # another seller's shipment: not even its existence is told
    assert (
        await client.post(f"{API}/shipments/{shipped.json()['id']}/events", headers=buyer, json={"status": "delivered"})
    ).status_code == 404


async def test_returns_need_delivery_within_30_days(client: httpx.AsyncClient, container: Any) -> None:
    seller, _, (a,) = await seller_with_offers(client, container, 3)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (a, 1))
    line = (await order(client, buyer, order_id))["lines"][0]
    early = await client.post(
        f"{API}/orders/{order_id}/returns",
        headers=buyer,
        json={"lines": [{"order_line_id": line["id"], "quantity": 1}], "reason": "x"},
    )
    assert code_of(early) == (409, "not_returnable")
    await payment_workers.run_capture(container)
    shipment = (
        await client.post(
            f"{API}/sellers/me/orders/{order_id}/shipments",
            headers=seller,
            json={"line_ids": [line["id"]], "carrier": "UPS", "tracking_number": "1Z0003"},
        )
    ).json()
    r = await client.post(f"{API}/shipments/{shipment['id']}/events", headers=seller, json={"status": "delivered"})
    assert r.status_code == 200
    async with container.uow() as uow:  # 31 days pass (a seller can no longer backdate a delivery)
        await uow.session.execute(
            update(Shipment).where(Shipment.id == shipment["id"]).values(delivered_at=utcnow() - timedelta(days=31))
        )
        await uow.commit()
    late = await client.post(
        f"{API}/orders/{order_id}/returns",
        headers=buyer,
        json={"lines": [{"order_line_id": line["id"], "quantity": 1}], "reason": "x"},
    )
    assert code_of(late) == (409, "return_window_closed")
    bad = await client.post(f"{API}/orders/{order_id}/returns", headers=buyer, json={"lines": [], "reason": "x"})
    assert bad.status_code == 422


async def test_notifications_and_seller_stats(client: httpx.AsyncClient, container: Any) -> None:
    seller, _, (a,) = await seller_with_offers(client, container, 5, price=2500)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (a, 2))
    await payment_workers.run_capture(container)
    line = (await order(client, buyer, order_id))["lines"][0]
    await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller,
        json={"line_ids": [line["id"]], "carrier": "UPS", "tracking_number": "1Z0004"},
    )
    await drain_events(container)
    await drain_events(container)  # a second pass finds nothing new to do
    kinds = [n["kind"] for n in (await client.get(f"{API}/notifications", headers=buyer)).json()["items"]]
    assert set(kinds) >= {"order_placed", "payment_captured", "shipment_sent", "order_shipped"}
    assert len(kinds) == len(set(kinds))
    seller_kinds = [n["kind"] for n in (await client.get(f"{API}/notifications", headers=seller)).json()["items"]]
    assert "new_order" in seller_kinds
    stats = (await client.get(f"{API}/sellers/me/stats", headers=seller)).json()
    assert stats["orders"] == 1 and stats["units_sold"] == 2
    assert stats["revenue"] == {"amount": 5000, "currency": "USD"}
    assert stats["reservations"] == 1 and stats["reservation_to_purchase_ratio"] == 1.0
    assert (await client.get(f"{API}/sellers/me/stats", headers=buyer)).status_code == 403
    marked = await client.post(f"{API}/notifications/read", headers=buyer)
    assert marked.json()["marked_read"] == len(kinds)
    assert all(n["read"] for n in (await client.get(f"{API}/notifications", headers=buyer)).json()["items"])


async def test_redelivering_every_event_changes_nothing(client: httpx.AsyncClient, container: Any) -> None:
    from sqlalchemy import func, select, update

    from bazaar.db.outbox import OutboxEvent
    from bazaar.notifications.models import Notification

    seller, _, (a,) = await seller_with_offers(client, container, 5)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (a, 1))
    await client.post(f"{API}/orders/{order_id}/cancel", headers=buyer)
    await drain_events(container)

    async def snapshot() -> tuple[int, dict[str, Any]]:
        async with container.read_uow() as uow:
            count = (await uow.session.execute(select(func.count()).select_from(Notification))).scalar_one()
        return count, (await client.get(f"{API}/sellers/me/stats", headers=seller)).json()

    before = await snapshot()
    assert before[0] >= 3 and before[1]["orders"] == 0  # placed, then cancelled: figures back to zero
    async with container.uow() as uow:  # the relay forgets it ever published anything
        await uow.session.execute(update(OutboxEvent).values(published_at=None))
        await uow.commit()
    await drain_events(container)
    assert await snapshot() == before
