"""The mail sender worker: sends due emails from the mail outbox through the container's transport."""

from __future__ import annotations

from datetime import timedelta

from bazaar.bootstrap import Container
from bazaar.mail.sender import prune_sent, send_due


async def run_once(container: Container) -> int:
    if container.mail is None:
        return 0
    sent = await send_due(uow_factory=container.uow, transport=container.mail, policy=container.mail_policy)
    if sent:
        return sent
    async with container.uow() as uow:  # idle: forget emails sent long ago (not counted as work done)
        await prune_sent(uow=uow, older_than=timedelta(days=container.settings.mail_keep_days))
    return 0
