"""Email through a real SMTP server (aiosmtpd, in this process): what arrives, once, and after an outage."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bazaar.db.consumers import deliver, event_from_row
from bazaar.db.outbox import OutboxEvent
from bazaar.mail.models import MailMessage
from bazaar.workers import mail_sender
from tests.helpers import API, drain_events, new_user
from tests.inventory_factories import make_offer
from tests.smtp_server import SmtpServer, html_of, text_of

ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Main St",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "country": "US",
}
CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings_factory, smtp):  # type: ignore[no-untyped-def]
    return settings_factory(
        smtp_url=smtp.url,
        smtp_timeout_seconds=2,
        public_url="http://shop.test",
        mail_retry_base_seconds=0.05,
        mail_retry_max_seconds=0.2,
        capture_delay_seconds=0,
    )


async def place_order(client: Any, container: Any, headers: dict, *, price: int = 1999, qty: int = 2) -> dict:
    offer = await make_offer(container, quantity=10, price=price, title="Teapot")
    r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": qty}, headers=headers)
    assert r.status_code == 200, r.text
    body = {"shipping_address": ADDRESS, "shipping_method": "standard", "payment": CARD}
    r = await client.post(f"{API}/checkout", json=body, headers={**headers, "Idempotency-Key": f"k-{offer.id}"})
    assert r.status_code == 201, r.text
    return dict((await client.get(f"{API}/orders/{r.json()['order_id']}", headers=headers)).json())


async def send_all(container: Any) -> int:
    await drain_events(container)
    sent = 0
    while n := await mail_sender.run_once(container):
        sent += n
    return sent


async def mail_rows(container: Any) -> list[MailMessage]:
    async with container.read_uow() as uow:
        return list((await uow.session.execute(select(MailMessage).order_by(MailMessage.created_at))).scalars())


async def test_order_placed_email_has_the_number_and_total(client: Any, container: Any, smtp: SmtpServer) -> None:
    user, h = await new_user(client, name="Ada Lovelace")
    order = await place_order(client, container, h)
    await send_all(container)
    [mail] = smtp.to(user["email"])
    number = order["id"][-8:]
    total = order["total"]["amount"]
    assert mail["Subject"] == f"Your Bazaar order {number} is placed"
    assert mail["From"] == "Bazaar <no-reply@bazaar.localhost>"
    assert mail["Message-ID"].endswith("@bazaar.localhost>")
    text, html = text_of(mail), html_of(mail)
    assert "Hello Ada Lovelace" in text and f"Order {number}" in text
    assert f"${total // 100:,}.{total % 100:02d}" in text and f"${total // 100:,}.{total % 100:02d}" in html
    assert "2 x Teapot" in text and "2 × Teapot" in html
    assert f"http://shop.test/orders/{order['id']}" in text
    assert mail["List-Unsubscribe"].startswith("<http://shop.test/unsubscribe?token=")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The same event again (a redelivery) queues nothing new; a second round sends nothing.
    async with container.read_uow() as uow:
        placed = (
            await uow.session.execute(select(OutboxEvent).where(OutboxEvent.topic == "orders.order_placed.v1"))
        ).scalar_one()
    mail_sub = next(s for s in container.subscriptions if s.consumer == "mail")
    from bazaar.mail.handlers import queue_emails

    async with container.uow() as uow:  # the handler itself, past the inbox: the dedupe key holds
        await queue_emails(container.mail_config)(uow, event_from_row(placed))
        await uow.commit()
    assert await deliver(container.uow, mail_sub, event_from_row(placed)) is False
    assert await send_all(container) == 0
    assert len(smtp.to(user["email"])) == 1
    assert [r.status for r in await mail_rows(container)] == ["sent"]


async def test_with_the_smtp_server_down_orders_complete_and_the_email_follows(
    client: Any, container: Any, smtp: SmtpServer
) -> None:
    user, h = await new_user(client)
    smtp.stop()
    order = await place_order(client, container, h)  # 201: the order does not wait for email
    assert order["status"] in {"pending", "processing"}
    await send_all(container)
    [row] = await mail_rows(container)
    assert row.status == "pending" and row.attempts >= 1 and "Connection" in (row.last_error or "")
    metrics = (await client.get("/metrics")).text
    assert 'bazaar_mail_outbox{status="pending"} 1.0' in metrics
    smtp.start()
    for _ in range(100):  # the retry comes after its backoff
        await send_all(container)
        if smtp.to(user["email"]):
            break
        await asyncio.sleep(0.05)
    [mail] = smtp.to(user["email"])
    assert order["id"][-8:] in mail["Subject"]
    [row] = await mail_rows(container)
    assert row.status == "sent"
    await asyncio.sleep(0.3)
    await send_all(container)
    assert len(smtp.to(user["email"])) == 1


async def test_preferences_turn_a_kind_off(client: Any, container: Any, smtp: SmtpServer) -> None:
    user, h = await new_user(client)
    prefs = (await client.get(f"{API}/me/preferences", headers=h)).json()
    assert prefs["email"]["order_placed"] is True and prefs["email"]["back_in_stock"] is True
    off = await client.patch(f"{API}/me/preferences", json={"email": {"order_placed": False}}, headers=h)
    assert off.status_code == 200 and off.json()["email"]["order_placed"] is False
    bad = await client.patch(f"{API}/me/preferences", json={"email": {"spam": True}}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_email_kind"
    await place_order(client, container, h)
    await send_all(container)
    assert smtp.to(user["email"]) == []
    assert (await client.patch(f"{API}/me/preferences", json={"email": {}})).status_code == 401


async def test_unsubscribe_link_works_without_login(client: Any, container: Any, smtp: SmtpServer) -> None:
    user, h = await new_user(client)
    await place_order(client, container, h)
    await send_all(container)
    [mail] = smtp.to(user["email"])
    link = mail["List-Unsubscribe"].strip("<>").removeprefix("http://shop.test")
    page = await client.get(link, headers={"accept": "text/html"})
    assert page.status_code == 200 and "Order confirmations" in page.text
    # RFC 8058 one-click: a mail app posts to the link, with no cookie and no form token.
    done = await client.post(link, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    prefs = (await client.get(f"{API}/me/preferences", headers=h)).json()["email"]
    assert prefs["order_placed"] is False and prefs["order_shipped"] is True
    forged = await client.post(link[:-3] + "abc", data={"List-Unsubscribe": "One-Click"})
    assert forged.status_code == 404


async def test_without_smtp_emails_are_eml_files(settings_factory: Any, tmp_path: Any) -> None:
    from bazaar.bootstrap import build_container
    from bazaar.web.app import create_app
    from tests.conftest import truncate_all

    settings = settings_factory(smtp_url=None, capture_delay_seconds=0)
    container = build_container(settings)
    if not settings.is_sqlite:
        await truncate_all(container)
    try:
        import httpx

        transport = httpx.ASGITransport(app=create_app(container=container))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            user, h = await new_user(client)
            order = await place_order(client, container, h)
            await send_all(container)
        files = list((settings.data_dir / "mail").glob("*.eml"))
        assert len(files) == 1
        content = files[0].read_bytes().decode()
        assert f"To: {user['email']}" in content and order["id"][-8:] in content
    finally:
        await container.close()


async def test_sent_emails_are_forgotten_after_the_keep_period(client: Any, container: Any, smtp: SmtpServer) -> None:
    from datetime import timedelta

    from bazaar.mail.sender import prune_sent

    _, h = await new_user(client)
    await place_order(client, container, h)
    await send_all(container)
    async with container.uow() as uow:
        assert await prune_sent(uow=uow, older_than=timedelta(days=1)) == 0
    async with container.uow() as uow:
        assert await prune_sent(uow=uow, older_than=timedelta(seconds=-1)) == 1
    assert await mail_rows(container) == []


async def test_a_refused_mailbox_fails_once_and_the_rest_of_the_batch_goes_out(
    client: Any, container: Any, smtp: SmtpServer
) -> None:
    from bazaar.mail import service

    smtp.refused.add("nobody@example.com")
    async with container.uow() as uow:
        for n, to in enumerate(("nobody@example.com", "zoë@example.com")):
            await service.enqueue_email(
                uow=uow,
                event_id=f"e{n}",
                kind="order_placed",
                to=to,
                subject="Ünïcode order ✓",
                text="Grüße €\n" + "long line " * 200,
                html="<p>Grüße €</p>",
                unsubscribe_url=None,
            )
        await uow.commit()
    await send_all(container)
    rows = {r.to_address: r for r in await mail_rows(container)}
    assert rows["nobody@example.com"].status == "failed" and rows["nobody@example.com"].attempts == 1
    assert "550" in (rows["nobody@example.com"].last_error or "")
    assert rows["zoë@example.com"].status == "sent"
    [mail] = smtp.inbox
    assert mail["Subject"] == "Ünïcode order ✓" and text_of(mail).startswith("Grüße €")


class _Recording:
    """A transport that accepts everything and keeps what it was given; `during_send` runs inside a send."""

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[str] = []
        self.during_send: Any = None
        self.error = error  # what every email meets, if anything

    async def send(self, mails: Any) -> list[Exception | None]:
        if self.during_send is not None:
            during, self.during_send = self.during_send, None
            await during()
        await asyncio.sleep(0.01)  # a mail server's round trip: other senders run meanwhile
        self.sent += [m.mail_id for m in mails]
        return [self.error] * len(mails)

    async def close(self) -> None:
        return None


async def _queue(container: Any, count: int) -> None:
    from bazaar.mail import service

    async with container.uow() as uow:
        for n in range(count):
            await service.enqueue_email(
                uow=uow, event_id=f"q{n}", kind="order_placed", to=f"b{n}@example.com", subject=f"#{n}",
                text="t", html="<p>t</p>", unsubscribe_url=None,
            )  # fmt: skip
        await uow.commit()


async def test_senders_running_at_once_send_every_email_once(container: Any, second_container: Any) -> None:
    """Several senders (two nodes' workers) share the outbox: each claims its batch with one statement that skips
    rows another holds, so every email goes out once and all of them are settled sent."""
    from bazaar.mail.sender import SendPolicy, send_due

    await _queue(container, 30)
    transport = _Recording()
    policy = SendPolicy(sender="shop@example.com", batch=4)

    async def sender(c: Any) -> None:
        while await send_due(uow_factory=c.uow, transport=transport, policy=policy):
            pass

    await asyncio.gather(*(sender(c) for c in (container, second_container, container, second_container)))
    assert sorted(transport.sent) == sorted(set(transport.sent)) and len(transport.sent) == 30
    rows = await mail_rows(container)
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}
    assert all(r.claim is None and r.locked_until is None for r in rows)


async def test_a_sender_whose_lease_ran_out_settles_nothing_of_what_another_took(container: Any) -> None:
    """A sender slower than its lease: another sender claims the rows again (and sends them: the one duplicate
    window, same Message-ID); the first one's settle then finds them under the other claim and leaves them, even
    when what it would write says its own try failed."""
    from datetime import timedelta

    from bazaar.kernel.clock import utcnow
    from bazaar.mail.sender import SendPolicy, send_due

    await _queue(container, 3)
    policy = SendPolicy(sender="shop@example.com", batch=10, lease=timedelta(seconds=60))
    slow, quick = _Recording(TimeoutError("the mail server did not answer")), _Recording()

    async def another_sender_after_the_lease() -> None:
        later = utcnow() + timedelta(seconds=61)
        assert await send_due(uow_factory=container.uow, transport=quick, policy=policy, now=later) == 3

    slow.during_send = another_sender_after_the_lease
    assert await send_due(uow_factory=container.uow, transport=slow, policy=policy) == 3
    assert sorted(slow.sent) == sorted(quick.sent)
    rows = await mail_rows(container)
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {2}  # taken twice, settled once
    assert all(r.sent_at is not None and r.last_error is None for r in rows)
    assert await send_due(uow_factory=container.uow, transport=quick, policy=policy) == 0  # nothing left due


async def test_a_batch_of_orders_queues_the_emails_each_buyer_wants_once(
    client: Any, container: Any, smtp: SmtpServer
) -> None:
    """The email consumer's batch: each order's email composed as for it alone, the recipients' choices read
    together (one turned this kind off, one turned every email off), the wanted ones queued together; the same
    events handled again, one by one, queue nothing more."""
    from bazaar.mail.handlers import queue_emails, queue_emails_batch

    buyers = [await new_user(client) for _ in range(3)]
    await client.patch(f"{API}/me/preferences", json={"email": {"order_placed": False}}, headers=buyers[1][1])
    from bazaar.mail import service as mail_service
    from bazaar.mail.tokens import ALL, unsubscribe_token

    every = unsubscribe_token(secret=container.mail_config.secret_key, email=buyers[2][0]["email"], kind=ALL)
    async with container.uow() as uow:  # the "all emails" link of any email
        await mail_service.unsubscribe(uow=uow, secret=container.mail_config.secret_key, token=every)
    for _, h in buyers:
        await place_order(client, container, h)
    async with container.read_uow() as uow:
        rows = await uow.session.execute(select(OutboxEvent).where(OutboxEvent.topic == "orders.order_placed.v1"))
        events = [event_from_row(row) for row in rows.scalars()]
    assert len(events) == 3
    async with container.uow() as uow:
        await queue_emails_batch(container.mail_config)(uow, events)
        await uow.commit()
    async with container.uow() as uow:
        for event in events:
            await queue_emails(container.mail_config)(uow, event)
        await uow.commit()
    queued = await mail_rows(container)
    assert [(m.to_address, m.kind) for m in queued] == [(buyers[0][0]["email"], "order_placed")]
    assert "Your Bazaar order" in queued[0].subject and queued[0].unsubscribe_url
