"""Sending the outbox: claim due emails, hand them to the transport, record what happened.

Each email is sent once: a sender claims rows (FOR UPDATE SKIP LOCKED on PostgreSQL, so any number of
workers share the outbox without taking the same row) under a lease and a claim id, calls the mail
server with no transaction open, and settles only the rows its claim still holds. A refused email
(5xx) is failed for good; anything else (server down, timeout, 4xx) is retried with exponential
backoff and jitter until `give_up_after` from when it was queued. The one window for a duplicate is a
crash between the server's acceptance and the settle: the row is claimed again when its lease ends and
goes out again with the same Message-ID.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from bazaar.db.dialects import taken_once
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import aware, utcnow
from bazaar.kernel.ids import new_id
from bazaar.kernel.ports import MailTransport, PermanentDeliveryFailure
from bazaar.mail.message import outgoing
from bazaar.mail.models import MailMessage


@dataclass(frozen=True)
class SendPolicy:
    sender: str
    batch: int = 20
    lease: timedelta = timedelta(seconds=120)
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    give_up_after: timedelta = timedelta(days=3)


def retry_delay(attempts: int, policy: SendPolicy, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: about base, 2*base, 4*base … up to the cap, each between 50% and 100%."""
    ceiling = min(policy.retry_max_seconds, policy.retry_base_seconds * 2 ** min(max(attempts - 1, 0), 30))
    return ceiling * (0.5 + rng() / 2)


async def _claim(
    uow_factory: Callable[[], UnitOfWork], policy: SendPolicy, now: datetime
) -> tuple[str, list[MailMessage]]:
    """Up to a batch of due emails taken under a new claim and lease: one statement (the claim's UPDATE answers
    the rows it took), where picking, claiming and reading them back were three and two transactions."""
    claim = new_id()
    async with uow_factory() as uow:
        due = (
            select(MailMessage.id)
            .where(
                MailMessage.status == "pending",
                MailMessage.next_attempt_at <= now,
                or_(MailMessage.locked_until.is_(None), MailMessage.locked_until < now),
            )
            .order_by(MailMessage.next_attempt_at, MailMessage.id)
            .limit(policy.batch)
        )
        taken = await uow.session.execute(
            update(MailMessage)
            .where(MailMessage.id.in_(taken_once(uow, due)))
            .values(claim=claim, locked_until=now + policy.lease, attempts=MailMessage.attempts + 1)
            .returning(MailMessage)
            .execution_options(synchronize_session=False)
        )
        rows = list(taken.scalars())
        await uow.commit()
    return claim, sorted(rows, key=lambda r: (r.next_attempt_at, r.id))


async def send_due(
    *, uow_factory: Callable[[], UnitOfWork], transport: MailTransport, policy: SendPolicy, now: datetime | None = None
) -> int:
    """One round: claim up to `policy.batch` due emails, send them, settle them; answers how many were tried."""
    now = now or utcnow()
    claim, rows = await _claim(uow_factory, policy, now)
    if not rows:
        return 0
    results = await transport.send([outgoing(row, sender=policy.sender) for row in rows])
    settled_at = utcnow()
    # Only rows this claim still holds are settled (a lease that ran out may have passed a row to another sender).
    settle = update(MailMessage).where(MailMessage.claim == claim).execution_options(synchronize_session=False)
    async with uow_factory() as uow:
        sent = [row.id for row, error in zip(rows, results, strict=True) if error is None]
        if sent:  # the usual case, all of the batch: one statement
            await uow.session.execute(
                settle.where(MailMessage.id.in_(sent)).values(
                    status="sent", sent_at=settled_at, last_error=None, locked_until=None, claim=None
                )
            )
        for row, error in zip(rows, results, strict=True):
            if error is None:
                continue
            give_up = isinstance(error, PermanentDeliveryFailure) or (
                settled_at - aware(row.created_at) >= policy.give_up_after
            )
            delay = timedelta(seconds=retry_delay(row.attempts, policy))
            await uow.session.execute(
                settle.where(MailMessage.id == row.id).values(
                    status="failed" if give_up else "pending",
                    next_attempt_at=settled_at + delay,
                    last_error=f"{type(error).__name__}: {error}"[:2000],
                    locked_until=None,
                    claim=None,
                )
            )
        await uow.commit()
    return len(rows)


async def outbox_counts(*, uow: UnitOfWork) -> dict[str, int]:
    """Emails waiting and given up on (pending, failed), for /metrics; sent ones are not counted (they pile up)."""
    rows = await uow.session.execute(
        select(MailMessage.status, func.count())
        .where(MailMessage.status.in_(("pending", "failed")))
        .group_by(MailMessage.status)
    )
    return {"pending": 0, "failed": 0} | {status: int(n) for status, n in rows}


async def prune_sent(*, uow: UnitOfWork, older_than: timedelta, limit: int = 500) -> int:
    """Forget up to `limit` emails sent longer ago than `older_than` (their bodies are the bulk of the table)."""
    old = (
        select(MailMessage.id)
        .where(MailMessage.status == "sent", MailMessage.sent_at < utcnow() - older_than)
        .limit(limit)
    )
    ids = list((await uow.session.execute(old)).scalars())
    if ids:
        await uow.session.execute(delete(MailMessage).where(MailMessage.id.in_(ids)))
        await uow.commit()
    return len(ids)
