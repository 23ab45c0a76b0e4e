"""The email consumer (a shared subscription): events that matter to a buyer become emails in the outbox.

It runs in the event's inbox-protected transaction, so an event handled twice queues nothing twice; the
outbox row's dedupe key (event, kind, recipient) says the same again in the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.mail.kinds import KINDS, MailConfig
from bazaar.mail.render import render
from bazaar.mail.service import QueuedEmail, enqueue_emails, wanted_emails
from bazaar.mail.tokens import unsubscribe_token

Event = dict[str, Any]


def queue_emails(config: MailConfig) -> Callable[[UnitOfWork, Event], Awaitable[None]]:
    handle_batch = queue_emails_batch(config)

    async def handle(uow: UnitOfWork, event: Event) -> None:
        await handle_batch(uow, [event])

    return handle


def queue_emails_batch(config: MailConfig) -> Callable[[UnitOfWork, list[Event]], Awaitable[None]]:
    """The consumer for a batch of events: each event's emails composed as for it alone, then the recipients'
    preferences read with one statement and the emails they want queued with one (PostgreSQL)."""

    async def handle(uow: UnitOfWork, events: list[Event]) -> None:
        drafts = []
        for event in events:
            for kind in KINDS:
                if kind.topic == event["topic"]:
                    drafts += [(event, kind, draft) for draft in await kind.compose(uow, event, config)]
        wanted = await wanted_emails(uow=uow, wanted=[(draft.to, kind.name) for _, kind, draft in drafts])
        emails = []
        for (event, kind, draft), wants in zip(drafts, wanted, strict=True):
            if not wants:
                continue
            token = unsubscribe_token(secret=config.secret_key, email=draft.to, kind=kind.name)
            unsubscribe_url = f"{config.public_url}/unsubscribe?token={token}"
            context = {
                **draft.context,
                "subject": draft.subject,
                "kind_label": kind.label,
                "unsubscribe_url": unsubscribe_url,
                "preferences_url": f"{config.public_url}/account/email",
            }
            text, html = render(kind.name, context)
            emails.append(
                QueuedEmail(event["event_id"], kind.name, draft.to, draft.subject, text, html, unsubscribe_url)
            )
        await enqueue_emails(uow=uow, emails=emails)

    return handle
