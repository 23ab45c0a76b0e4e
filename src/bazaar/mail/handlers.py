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
from bazaar.mail.service import enqueue_email, wants_email
from bazaar.mail.tokens import unsubscribe_token

Event = dict[str, Any]


def queue_emails(config: MailConfig) -> Callable[[UnitOfWork, Event], Awaitable[None]]:
    async def handle(uow: UnitOfWork, event: Event) -> None:
        for kind in KINDS:
            if kind.topic != event["topic"]:
                continue
            for draft in await kind.compose(uow, event, config):
                if not await wants_email(uow=uow, email=draft.to, kind=kind.name):
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
                await enqueue_email(
                    uow=uow,
                    event_id=event["event_id"],
                    kind=kind.name,
                    to=draft.to,
                    subject=draft.subject,
                    text=text,
                    html=html,
                    unsubscribe_url=unsubscribe_url,
                )

    return handle
