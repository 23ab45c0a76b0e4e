"""The mail sender worker: sends due emails from the mail outbox through the container's transport."""

from __future__ import annotations

from bazaar.bootstrap import Container
from bazaar.mail.sender import send_due


async def run_once(container: Container) -> int:
    if container.mail is None:
        return 0
    return await send_due(uow_factory=container.uow, transport=container.mail, policy=container.mail_policy)
