"""Checkout over HTTP and through the saga: every test card, replays, stock and crashes, on both backends."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select, update

from bazaar.checkout import service
from bazaar.checkout.errors import CheckoutExpired
from bazaar.checkout.models import Checkout
from bazaar.checkout.schemas import CheckoutRequest
from bazaar.inventory.models import Reservation
from bazaar.kernel.clock import utcnow
from bazaar.orders.models import Order
from bazaar.payments.models import Payment
from tests.helpers import API, new_user
from tests.inventory_factories import MadeOffer, levels, make_offer, set_status

ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Main St",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "country": "US",
}
APPROVE, DECLINE, NO_FUNDS, SERVER_ERROR, TIMEOUT = (
    "4242424242424242",
    "4000000000000002",
    "4000000000009995",
    "4000000000000119",
    "4000000000000259",
)


def body(card: str = APPROVE, method: str = "standard", **over: Any) -> dict[str, Any]:
    return {
        "shipping_address": {**ADDRESS, **over},
        "shipping_method": method,
        "payment": {"card_number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
    }


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    # Short provider deadlines so the failing cards answer quickly.
    return settings_factory(
        payment_call_timeout_seconds=0.3,
        payment_deadline_seconds=1.0,
        payment_retry_base_seconds=0.02,
        payment_retry_max_seconds=0.1,
        payment_sandbox_hang_seconds=1.0,
        capture_delay_seconds=0,
    )


async def buyer_with_cart(client: httpx.AsyncClient, *offers: tuple[MadeOffer, int]) -> dict[str, str]:
    _, headers = await new_user(client)
    for offer, qty in offers:
        r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": qty}, headers=headers)
        assert r.status_code == 200, r.text
    return headers


async def checkout(
    client: httpx.AsyncClient, headers: dict[str, str], key: str | None = "k1", **kw: Any
) -> httpx.Response:
    h = dict(headers)
    if key is not None:
        h["Idempotency-Key"] = key
    return await client.post(f"{API}/checkout", json=body(**kw), headers=h)


async def count(container, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with container.read_uow() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


async def assert_nothing_held(container) -> None:  # type: ignore[no-untyped-def]
    assert await count(container, Reservation, Reservation.status == "held") == 0
    # every authorization ends with an order (to be captured) or voided
    async with container.read_uow() as uow:
        for p in (await uow.session.execute(select(Payment))).scalars():
            if p.status == "authorized":
                assert p.order_id is not None, p


async def test_quote_lists_options_tax_and_totals(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=5, price=1000)
    headers = await buyer_with_cart(client, (a, 2))
    r = await client.post(f"{API}/checkout/quote", json={"shipping_address": ADDRESS}, headers=headers)
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["subtotal"] == {"amount": 2000, "currency": "USD"}
    assert q["tax"]["amount"] == 125  # 6.25 % in TX
    assert q["total"]["amount"] == q["subtotal"]["amount"] + q["shipping"]["amount"] + q["tax"]["amount"]
    assert {o["method"] for o in q["shipping_options"]} >= {"standard", "expedited", "express"}
    bad = await client.post(
        f"{API}/checkout/quote", json={"shipping_address": {**ADDRESS, "region": "ZZ"}}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


async def test_checkout_places_the_order_and_empties_the_cart(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=5, price=1000)
    b = await make_offer(container, quantity=3, price=2500)
    headers = await buyer_with_cart(client, (a, 2), (b, 1))
    r = await checkout(client, headers)
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["status"] == "completed" and done["order_id"]
    assert await levels(container, a.id) == (3, 3)
    assert await levels(container, b.id) == (2, 2)
    cart = (await client.get(f"{API}/cart", headers=headers)).json()
    assert cart["items"] == []
    follow = (await client.get(f"{API}/checkout/{done['id']}", headers=headers)).json()
    steps = [s["status"] for s in follow["steps"]]
    assert steps[:5] == ["started", "cart_validated", "inventory_reserved", "priced", "payment_authorized"]
    assert "order_created" in steps and follow["failure"] is None
    async with container.read_uow() as uow:
        payment = (await uow.session.execute(select(Payment))).scalar_one()
        order = (await uow.session.execute(select(Order).where(Order.id == done["order_id"]))).scalar_one()
        assert payment.status == "authorized" and payment.authorized_amount == order.total_amount
        assert order.status == "pending"
    await assert_nothing_held(container)


async def test_replay_answers_the_same_and_never_charges_twice(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=5)
    headers = await buyer_with_cart(client, (a, 1))
    first = await checkout(client, headers, key="same")
    again = await checkout(client, headers, key="same")
    assert first.status_code == again.status_code == 201
    assert first.json()["order_id"] == again.json()["order_id"]
    assert await count(container, Order) == 1 and await count(container, Payment) == 1
    other = await checkout(client, headers, key="same", card=DECLINE)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    missing = await checkout(client, headers, key=None)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_required"


async def test_concurrent_replays_make_one_order(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=5)
    headers = await buyer_with_cart(client, (a, 1))
    answers = await asyncio.gather(*(checkout(client, headers, key="burst") for _ in range(5)))
    assert {r.status_code for r in answers} <= {201, 409}
    assert any(r.status_code == 201 for r in answers)
    assert len({r.json()["order_id"] for r in answers if r.status_code == 201}) == 1
    assert await count(container, Order) == 1 and await count(container, Checkout) == 1
    assert await levels(container, a.id) == (4, 4)


async def test_checkouts_sharing_offers_in_opposite_order_all_complete(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, container, pg_only
) -> None:
    # Each pair's carts name the same two offers in opposite orders; committing holds in cart order deadlocked.
    a = await make_offer(container, quantity=100)
    b = await make_offer(container, quantity=100)
    buyers = [await buyer_with_cart(client, *((a, 1), (b, 1))[:: 1 if n % 2 else -1]) for n in range(12)]
    answers = await asyncio.gather(*(checkout(client, headers, key="shared") for headers in buyers))
    assert [r.status_code for r in answers] == [201] * 12, [r.text for r in answers if r.status_code != 201]
    assert await count(container, Order) == 12
    assert await levels(container, a.id) == (88, 88) and await levels(container, b.id) == (88, 88)
    await assert_nothing_held(container)


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        (DECLINE, 402, "payment_declined"),
        (NO_FUNDS, 402, "insufficient_funds"),
        (SERVER_ERROR, 503, "payment_provider_unavailable"),
    ],
)
async def test_failed_payments_hold_nothing(
    client: httpx.AsyncClient, container, card: str, status: int, code: str
) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=2)
    headers = await buyer_with_cart(client, (a, 2))
    r = await checkout(client, headers, card=card)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert await levels(container, a.id) == (2, 2)
    assert await count(container, Order) == 0
    await assert_nothing_held(container)
    # the cart is kept so the buyer can try another card
    assert len((await client.get(f"{API}/cart", headers=headers)).json()["items"]) == 1
    replay = await checkout(client, headers, card=card)
    assert (replay.status_code, replay.json()["error"]["code"]) == (status, code)
    follow = await client.get(f"{API}/checkout/{r.json()['error']['details']['checkout_id']}", headers=headers)
    assert follow.json()["status"] == "failed" and follow.json()["failure"]["code"] == code


async def test_out_of_stock_is_409_naming_the_offer(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=3)
    b = await make_offer(container, quantity=3)
    headers = await buyer_with_cart(client, (a, 1), (b, 3))
    _, rival = await new_user(client)
    await client.post(f"{API}/cart/items", json={"offer_id": b.id, "quantity": 2}, headers=rival)
    assert (await checkout(client, rival, key="rival")).status_code == 201
    r = await checkout(client, headers)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "insufficient_stock"
    assert b.id in str(err["details"])
    assert await levels(container, a.id) == (3, 3)  # all or nothing: a was not held either
    await assert_nothing_held(container)


async def test_lost_answer_after_authorizing_converges_to_an_order(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=2)
    headers = await buyer_with_cart(client, (a, 1))
    r = await checkout(client, headers, card=TIMEOUT)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "priced"
    await asyncio.sleep(1.1)  # the sandbox has now answered its own books
    taken = await service.reconcile_once(deps=container.saga_deps(), now=utcnow() + timedelta(minutes=5))
    assert taken == 1
    follow = (await client.get(f"{API}/checkout/{r.json()['id']}", headers=headers)).json()
    assert follow["status"] == "completed" and follow["order_id"]
    assert await levels(container, a.id) == (1, 1)
    await assert_nothing_held(container)


# `completed`: the provider's answer and the order commit together; a process that dies right after has nothing
# left for the reconciler (payment_authorized alone is the holds-gone path, tested below).
CRASH_POINTS = ["started", "cart_validated", "inventory_reserved", "priced", "provider_called", "completed"]


@pytest.mark.parametrize("crash_after", CRASH_POINTS)
async def test_crash_after_each_step_then_reconciler_converges(
    client: httpx.AsyncClient, container, crash_after: str
) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=4)
    user, headers = await new_user(client)
    await client.post(f"{API}/cart/items", json={"offer_id": a.id, "quantity": 2}, headers=headers)
    deps = container.saga_deps(crash_after={crash_after})
    request = CheckoutRequest.model_validate(body())
    if crash_after == "started":
        deps.crash_after = {"cart_validated"}
    with pytest.raises(Exception, match="injected crash"):
        await service.start_checkout(deps=deps, user_id=user["id"], idempotency_key="crash", request=request)
    healthy = container.saga_deps()
    stuck = 0 if crash_after == "completed" else 1
    assert await service.reconcile_once(deps=healthy, now=utcnow() + timedelta(minutes=5)) == stuck
    async with container.read_uow() as uow:
        status = (await uow.session.execute(select(Checkout.status))).scalar_one()
    assert status in {"completed", "failed"}
    if status == "completed":
        assert await levels(container, a.id) == (2, 2)
        assert await count(container, Order) == 1
    else:
        assert await levels(container, a.id) == (4, 4)
        assert await count(container, Order) == 0
        assert await count(container, Payment, Payment.status == "authorized") == 0
    await assert_nothing_held(container)
    # a second sweep finds nothing left to do
    assert await service.reconcile_once(deps=healthy, now=utcnow() + timedelta(minutes=10)) == 0


async def test_capture_after_the_fraud_window(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    from bazaar.workers import payments as capture

    a = await make_offer(container, quantity=2, price=1500)
    headers = await buyer_with_cart(client, (a, 1))
    order_id = (await checkout(client, headers)).json()["order_id"]
    assert await capture.run_capture(container) == 1
    order = (await client.get(f"{API}/orders/{order_id}", headers=headers)).json()
    assert order["status"] == "processing"
    assert order["payment"]["status"] == "captured"
    assert order["payment"]["captured"] == order["total"]
    assert await capture.run_capture(container) == 0


async def test_an_order_moves_on_in_the_transaction_that_records_its_capture(
    client: httpx.AsyncClient, container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture's answer and the order's move to `processing` commit together: when the move fails, neither is
    recorded, the orders after it are captured all the same, and the next round sends that capture again under
    its key, which the provider carries out once."""
    from bazaar.workers import payments as capture

    a = await make_offer(container, quantity=3, price=1500)
    first = await buyer_with_cart(client, (a, 2))  # two units: its total tells its capture from the other's
    first_order = (await checkout(client, first)).json()["order_id"]
    second = await buyer_with_cart(client, (a, 1))
    second_order = (await checkout(client, second)).json()["order_id"]
    sent: list[str] = []
    real_capture = container.payments.capture

    async def counted(**kwargs: Any) -> Any:
        sent.append(kwargs["idempotency_key"])
        return await real_capture(**kwargs)

    monkeypatch.setattr(container.payments, "capture", counted)
    real_move = capture.change_status

    async def move(**kwargs: Any) -> bool:
        if kwargs["order_id"] == first_order:
            raise RuntimeError("a bug in what follows the capture")
        return await real_move(**kwargs)

    monkeypatch.setattr(capture, "change_status", move)
    assert await capture.run_capture(container) == 1  # the second order's
    one = (await client.get(f"{API}/orders/{first_order}", headers=first)).json()
    assert (one["status"], one["payment"]["status"]) == ("pending", "authorized")  # neither was recorded
    two = (await client.get(f"{API}/orders/{second_order}", headers=second)).json()
    assert (two["status"], two["payment"]["status"]) == ("processing", "captured")

    monkeypatch.setattr(capture, "change_status", real_move)
    assert await capture.run_capture(container) == 1
    one = (await client.get(f"{API}/orders/{first_order}", headers=first)).json()
    assert (one["status"], one["payment"]["status"]) == ("processing", "captured")
    assert one["payment"]["captured"] == one["total"]
    assert [h["status"] for h in one["history"]] == ["pending", "processing"]
    calls = Counter(sent)
    assert sorted(calls.values()) == [1, 2]  # the first order's call sent again, under its key
    again = next(key for key, times in calls.items() if times == 2)
    found = await container.payments.lookup(idempotency_key=again)
    assert found is not None and found.approved and found.amount.amount == one["total"]["amount"]
    assert await capture.run_capture(container) == 0


async def test_due_captures_are_sent_side_by_side_and_each_carried_out_once(
    client: httpx.AsyncClient, container: Any, monkeypatch: pytest.MonkeyPatch, pg_only: None
) -> None:
    """A worker has several captures with the provider at once (a loop of one at a time would capture 1 / latency
    a second), up to BAZAAR_CAPTURE_CONCURRENCY; every order is captured once and moves on."""
    from bazaar.workers import payments as capture

    a = await make_offer(container, quantity=20, price=1500)
    orders = []
    for _ in range(6):
        headers = await buyer_with_cart(client, (a, 1))
        orders.append(((await checkout(client, headers)).json()["order_id"], headers))
    monkeypatch.setattr(container.settings, "capture_concurrency", 4)
    real_capture = container.payments.capture
    in_flight, most, sent = 0, 0, []

    all_in = asyncio.Event()

    async def slow(**kwargs: Any) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        sent.append(kwargs["idempotency_key"])
        if in_flight == 4:
            all_in.set()
        try:
            try:  # the provider answers once four calls are in (or after a while, for the last two)
                await asyncio.wait_for(all_in.wait(), 5)
            except TimeoutError:
                pass
            return await real_capture(**kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(container.payments, "capture", slow)
    assert await capture.run_capture(container) == 6
    assert most == 4  # side by side, never more than allowed
    assert len(sent) == len(set(sent)) == 6
    for order_id, headers in orders:
        order = (await client.get(f"{API}/orders/{order_id}", headers=headers)).json()
        assert (order["status"], order["payment"]["status"]) == ("processing", "captured")
        assert order["payment"]["captured"] == order["total"]
    assert await capture.run_capture(container) == 0


async def test_two_nodes_workers_share_the_due_captures_and_send_each_once(
    client: httpx.AsyncClient, container: Any, second_container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every node runs a capture worker. Each due capture is taken by one of them and sent to the provider once,
    where each worker used to send every due capture (carried out once, one key, but each node's call and
    writes wasted). A worker that died holding captures lets them go when their hold ends."""
    from bazaar.payments import service as payments
    from bazaar.workers import payments as capture

    a = await make_offer(container, quantity=20, price=1500)
    orders = []
    for _ in range(8):
        headers = await buyer_with_cart(client, (a, 1))
        orders.append(((await checkout(client, headers)).json()["order_id"], headers))
    for node in (container, second_container):
        monkeypatch.setattr(node.settings, "capture_concurrency", 2)  # two at a time: the nodes' rounds interleave
    sent: list[str] = []

    def counted(node: Any) -> None:
        real = node.payments.capture

        async def call(**kwargs: Any) -> Any:
            sent.append(kwargs["idempotency_key"])
            await asyncio.sleep(0.1)  # a provider that takes a moment: both nodes' rounds are under way at once
            return await real(**kwargs)

        monkeypatch.setattr(node.payments, "capture", call)

    counted(container)
    counted(second_container)
    for node in (container, second_container):  # connections open before the race (on a busy machine, in time)
        await node.db.warm(2)
    captured = await asyncio.gather(capture.run_capture(container), capture.run_capture(second_container))
    assert sum(captured) == 8 and all(captured)  # both took part
    assert len(sent) == len(set(sent)) == 8  # each capture sent once
    for order_id, headers in orders:
        order = (await client.get(f"{API}/orders/{order_id}", headers=headers)).json()
        assert (order["status"], order["payment"]["status"]) == ("processing", "captured")

    # A worker that claims a due capture and dies: no round sends it while the hold lasts, any round after it.
    headers = await buyer_with_cart(client, (a, 1))
    last = (await checkout(client, headers)).json()["order_id"]
    (dead,) = await payments.claim_due_captures(
        uow_factory=container.uow, now=utcnow(), hold=timedelta(seconds=30), limit=8
    )
    assert dead.order_id == last
    assert await capture.run_capture(second_container) == 0
    async with container.uow() as uow:  # the hold ends (30 s later)
        await uow.session.execute(
            update(Payment).where(Payment.id == dead.payment_id).values(capture_claimed_until=utcnow())
        )
        await uow.commit()
    assert await capture.run_capture(second_container) == 1
    assert len(sent) == len(set(sent)) == 9
    order = (await client.get(f"{API}/orders/{last}", headers=headers)).json()
    assert (order["status"], order["payment"]["status"]) == ("processing", "captured")


async def test_a_shipping_method_per_seller(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    a = await make_offer(container, quantity=5, price=1000)
    b = await make_offer(container, quantity=5, price=1000)
    headers = await buyer_with_cart(client, (a, 1), (b, 1))
    choice = {"shipping_address": ADDRESS, "shipping_method": "standard", "shipping_methods": {b.seller_id: "express"}}
    q = (await client.post(f"{API}/checkout/quote", json=choice, headers=headers)).json()
    by_seller = {s["seller_id"]: s for s in q["shipments"]}
    assert by_seller[a.seller_id]["shipping_method"] == "standard"
    assert by_seller[b.seller_id]["shipping_method"] == "express"
    assert q["shipping"]["amount"] == by_seller[b.seller_id]["price"]["amount"]  # a's listed shipping is free
    bad = await client.post(
        f"{API}/checkout/quote",
        headers=headers,
        json={
            "shipping_address": {**ADDRESS, "country": "DE", "region": "BE", "postal_code": "10115"},
            "shipping_methods": {a.seller_id: "standard"},
        },
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "shipping_method_unavailable"
    r = await client.post(
        f"{API}/checkout",
        json={**body(), "shipping_methods": {b.seller_id: "express"}},
        headers={**headers, "Idempotency-Key": "per-seller"},
    )
    assert r.status_code == 201, r.text
    order = (await client.get(f"{API}/orders/{r.json()['order_id']}", headers=headers)).json()
    assert order["shipping"] == q["shipping"] and order["total"] == q["total"]


class HeldAtTheProvider:
    """The checkout's payments, with the authorization held back until `go` is set (the request waits on the
    provider while the test lets the reconciler take the checkout over)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.reached, self.go = inner, asyncio.Event(), asyncio.Event()

    async def send_authorization(self, *args: Any, **kw: Any) -> Any:
        self.reached.set()
        await self.go.wait()
        return await self.inner.send_authorization(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def checkout_waiting_on_the_provider(
    client: httpx.AsyncClient,
    container: Any,
    provider: type[HeldAtTheProvider],
    key: str,
    crash_after: frozenset[str] = frozenset(),
) -> tuple[MadeOffer, asyncio.Task[Any], HeldAtTheProvider]:
    """A one-line checkout started with `provider` wrapped around the payments, once its request has reached it."""
    a = await make_offer(container, quantity=2)
    user, headers = await new_user(client)
    await client.post(f"{API}/cart/items", json={"offer_id": a.id, "quantity": 1}, headers=headers)
    deps = container.saga_deps(crash_after=set(crash_after))
    held = provider(deps.payments)
    deps.payments = held
    request = CheckoutRequest.model_validate(body())
    running = asyncio.create_task(
        service.start_checkout(deps=deps, user_id=user["id"], idempotency_key=key, request=request)
    )
    await asyncio.wait_for(held.reached.wait(), 10)
    return a, running, held


async def test_an_authorization_arriving_after_the_reconciler_undid_the_checkout_is_voided_not_recorded(
    client: httpx.AsyncClient, container
) -> None:  # type: ignore[no-untyped-def]
    a, running, held = await checkout_waiting_on_the_provider(client, container, HeldAtTheProvider, "late")
    # The request is waiting on the provider; past the deadline the reconciler takes the checkout over and undoes it.
    assert await service.reconcile_once(deps=container.saga_deps(), now=utcnow() + timedelta(minutes=5)) == 1
    held.go.set()  # now the provider authorizes
    with pytest.raises(CheckoutExpired):
        await running
    async with container.read_uow() as uow:
        checkout = (await uow.session.execute(select(Checkout))).scalar_one()
        read = await service.get_checkout_read(uow=uow, checkout_id=checkout.id, user_id=None)
        steps = [s.status for s in read.steps]
        payment = (await uow.session.execute(select(Payment))).scalar_one()
    assert checkout.status == "failed" and checkout.failure_code == "checkout_expired"
    assert steps.count("failed") == 1 and "payment_authorized" not in steps, steps
    assert payment.status == "voided"  # the late authorization does not keep the buyer's money
    assert await levels(container, a.id) == (2, 2)
    assert await count(container, Order) == 0
    await assert_nothing_held(container)


class AnsweredLate(HeldAtTheProvider):
    """The provider authorizes at once, but its answer reaches the request only when `go` is set."""

    async def send_authorization(self, *args: Any, **kw: Any) -> Any:
        answer = await self.inner.send_authorization(*args, **kw)
        self.reached.set()
        await self.go.wait()
        return answer


async def test_an_authorization_the_reconciler_went_on_with_is_kept_when_the_late_answer_arrives(
    client: httpx.AsyncClient, container
) -> None:  # type: ignore[no-untyped-def]
    """Past the deadline the reconciler asks the provider, finds the authorization and places the order; the
    request's answer arriving after that must not take the authorization for an orphan and void it."""
    _, running, late = await checkout_waiting_on_the_provider(client, container, AnsweredLate, "late-kept")
    assert await service.reconcile_once(deps=container.saga_deps(), now=utcnow() + timedelta(minutes=5)) == 1
    late.go.set()
    answer = await running
    assert answer.status == "completed" and answer.order_id
    async with container.read_uow() as uow:
        checkout = (await uow.session.execute(select(Checkout))).scalar_one()
        payment = (await uow.session.execute(select(Payment))).scalar_one()
    assert checkout.status == "completed" and checkout.order_id == answer.order_id
    assert payment.status == "authorized" and payment.order_id == answer.order_id  # not voided
    assert await count(container, Order) == 1
    await assert_nothing_held(container)


@pytest.mark.parametrize("crash_after", [None, "payment_authorized"])
async def test_holds_gone_while_the_provider_answers_void_the_authorization_and_fail_the_checkout(
    client: httpx.AsyncClient, container, crash_after: str | None
) -> None:  # type: ignore[no-untyped-def]
    """The answer and the order commit together; when the holds expired meanwhile, the answer is recorded alone
    (`payment_authorized`), the authorization voided and the checkout failed, by the request or, had it died
    right after recording the answer, by the reconciler."""
    from bazaar.inventory import service as inventory

    crash = frozenset({crash_after} if crash_after else ())
    a, running, held = await checkout_waiting_on_the_provider(client, container, HeldAtTheProvider, "gone", crash)
    async with container.uow() as uow:  # the holds run out while the request waits on the provider
        assert await inventory.expire_due(uow=uow, now=utcnow() + timedelta(hours=2)) == 1
        await uow.commit()
    held.go.set()
    if crash_after is None:
        with pytest.raises(CheckoutExpired):
            await running
    else:
        with pytest.raises(Exception, match="injected crash"):
            await running
        assert await service.reconcile_once(deps=container.saga_deps(), now=utcnow() + timedelta(minutes=5)) == 1
    async with container.read_uow() as uow:
        checkout = (await uow.session.execute(select(Checkout))).scalar_one()
        read = await service.get_checkout_read(uow=uow, checkout_id=checkout.id, user_id=None)
        payment = (await uow.session.execute(select(Payment))).scalar_one()
    steps = [s.status for s in read.steps]
    assert checkout.status == "failed" and checkout.failure_code == "checkout_expired"
    assert steps[-3:] == ["payment_authorized", "compensating", "failed"], steps
    assert "order_created" not in steps and "completed" not in steps
    assert payment.status == "voided"
    assert await levels(container, a.id) == (2, 2)
    assert await count(container, Order) == 0
    await assert_nothing_held(container)


async def test_an_order_that_fails_to_be_placed_keeps_the_providers_answer_and_the_reconciler_places_it(
    client: httpx.AsyncClient, container, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The answer and the order commit together; when placing the order fails (here a bug, once), the answer is
    recorded alone, so the authorization is not left for the provider to tell again, and the reconciler
    places the order."""
    from bazaar.checkout import saga

    a = await make_offer(container, quantity=3)
    user, headers = await new_user(client)
    await client.post(f"{API}/cart/items", json={"offer_id": a.id, "quantity": 1}, headers=headers)
    real, calls = saga.place_order, []

    async def fails_once(**kw: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("order placement broke")
        return await real(**kw)

    monkeypatch.setattr(saga, "place_order", fails_once)
    request = CheckoutRequest.model_validate(body())
    deps = container.saga_deps()
    with pytest.raises(RuntimeError, match="order placement broke"):
        await service.start_checkout(deps=deps, user_id=user["id"], idempotency_key="k", request=request)
    async with container.read_uow() as uow:
        checkout = (await uow.session.execute(select(Checkout))).scalar_one()
        payment = (await uow.session.execute(select(Payment))).scalar_one()
    assert checkout.status == "payment_authorized" and payment.status == "authorized"
    assert await count(container, Order) == 0
    assert await service.reconcile_once(deps=container.saga_deps(), now=utcnow() + timedelta(minutes=5)) == 1
    async with container.read_uow() as uow:
        checkout = (await uow.session.execute(select(Checkout))).scalar_one()
    assert checkout.status == "completed" and await count(container, Order) == 1
    assert await levels(container, a.id) == (2, 2)
    await assert_nothing_held(container)


async def test_an_order_the_database_keeps_breaking_up_keeps_the_providers_answer_and_answers_busy(
    client: httpx.AsyncClient, container, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """When every attempt at the answer and its order is broken up by the database (deadlocks), the request answers
    503 `database_busy` with the provider's answer recorded alone (the checkout at `payment_authorized`), and the
    reconciler places the order: the answer is never lost to the retries."""
    from sqlalchemy.exc import DBAPIError

    from bazaar.checkout import saga
    from bazaar.kernel.errors import DatabaseBusy

    class Deadlock(Exception):
        sqlstate = "40P01"

    a = await make_offer(container, quantity=3)
    user, headers = await new_user(client)
    await client.post(f"{API}/cart/items", json={"offer_id": a.id, "quantity": 1}, headers=headers)
    real = saga.place_order

    async def broken_up(**kw: Any) -> str:
        raise DBAPIError("INSERT INTO orders …", {}, Deadlock("deadlock detected"))

    monkeypatch.setattr(saga, "place_order", broken_up)
    request = CheckoutRequest.model_validate(body())
    with pytest.raises(DatabaseBusy):
        await service.start_checkout(
            deps=container.saga_deps(), user_id=user["id"], idempotency_key="k", request=request
        )
    async with container.read_uow() as uow:
        checkout = (await uow.session.execute(select(Checkout))).scalar_one()
        payment = (await uow.session.execute(select(Payment))).scalar_one()
    assert checkout.status == "payment_authorized" and payment.status == "authorized"
    monkeypatch.setattr(saga, "place_order", real)
    assert await service.reconcile_once(deps=container.saga_deps(), now=utcnow() + timedelta(minutes=5)) == 1
    async with container.read_uow() as uow:
        checkout = (await uow.session.execute(select(Checkout))).scalar_one()
    assert checkout.status == "completed" and await count(container, Order) == 1
    await assert_nothing_held(container)


async def test_a_checkout_request_takes_at_most_four_database_transactions(
    client: httpx.AsyncClient, container, backend: str
) -> None:  # type: ignore[no-untyped-def]
    if backend != "postgres":
        pytest.skip("counts PostgreSQL transactions")
    a, b = await make_offer(container, quantity=5), await make_offer(container, quantity=5)
    headers = await buyer_with_cart(client, (a, 1), (b, 2))
    await client.get(f"{API}/cart", headers=headers)  # the token is known and the pool warm, as in a rush
    engines = [container.db.engine.sync_engine, container.db.read_engine.sync_engine]  # writes' pool and reads'
    transactions: list[str] = []

    def began(conn: Any) -> None:
        transactions.append("begin")

    for engine in engines:
        event.listen(engine, "begin", began)
    try:
        r = await checkout(client, headers)
    finally:
        for engine in engines:
            event.remove(engine, "begin", began)
    assert r.status_code == 201, r.text
    assert len(transactions) <= 4, transactions


async def test_a_line_whose_offer_is_no_longer_sold_is_left_out_and_a_cart_of_only_such_lines_is_empty(
    client: httpx.AsyncClient, container
) -> None:  # type: ignore[no-untyped-def]
    kept, paused = await make_offer(container, quantity=5), await make_offer(container, quantity=5)
    headers = await buyer_with_cart(client, (kept, 2), (paused, 1))
    await set_status(container, paused.id, "inactive")
    r = await checkout(client, headers)
    assert r.status_code == 201, r.text
    order = (await client.get(f"{API}/orders/{r.json()['order_id']}", headers=headers)).json()
    assert [(li["offer_id"], li["quantity"]) for li in order["lines"]] == [(kept.id, 2)]
    assert await levels(container, paused.id) == (5, 5)  # nothing of it was held or sold

    other = await make_offer(container, quantity=5)  # a cart whose every line is of an offer no longer sold
    headers = await buyer_with_cart(client, (other, 1))
    await set_status(container, other.id, "inactive")
    r = await checkout(client, headers, key="k2")
    assert r.status_code == 422 and r.json()["error"]["code"] == "cart_empty", r.text
