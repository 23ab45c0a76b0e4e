"""Mail use cases: queue an email once per (event, kind, recipient); read and change email preferences;
unsubscribe through a signed link."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Integer, String, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bazaar.db.base import UTCDateTime
from bazaar.db.dialects import PerDialect
from bazaar.db.driver import Prepared, insert_from_arrays
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ids import new_id
from bazaar.mail.errors import UnknownMailKind
from bazaar.mail.kinds import KIND_NAMES
from bazaar.mail.models import MailMessage, MailPreference
from bazaar.mail.schemas import PreferencesRead
from bazaar.mail.tokens import ALL, read_unsubscribe_token


def _insert(uow: UnitOfWork):  # type: ignore[no-untyped-def]
    return pg_insert if uow.is_postgres else sqlite_insert


def dedupe_key(event_id: str, kind: str, to: str) -> str:
    return hashlib.sha256(f"{event_id}:{kind}:{to.lower()}".encode()).hexdigest()


@dataclass(frozen=True)
class QueuedEmail:
    """An email to queue: the event it comes from, its kind, its recipient and what it says."""

    event_id: str
    kind: str
    to: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str | None


async def enqueue_email(
    *,
    uow: UnitOfWork,
    event_id: str,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    unsubscribe_url: str | None,
) -> None:
    """Add an email to the outbox in the caller's transaction; the same event, kind and recipient add it once."""
    await enqueue_emails(uow=uow, emails=[QueuedEmail(event_id, kind, to, subject, text, html, unsubscribe_url)])


async def enqueue_emails(*, uow: UnitOfWork, emails: Sequence[QueuedEmail]) -> None:
    """`enqueue_email` for several: one statement for all of them on PostgreSQL, one each on SQLite."""
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "dedupe_key": dedupe_key(e.event_id, e.kind, e.to),
            "kind": e.kind,
            "to_address": e.to,
            "subject": e.subject[:300],
            "text_body": e.text,
            "html_body": e.html,
            "unsubscribe_url": e.unsubscribe_url,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now + timedelta(microseconds=i),  # sent in the order queued, as one by one
            "created_at": now + timedelta(microseconds=i),
        }
        for i, e in enumerate(emails)
    ]
    await uow.fetch_rows(rows, each=_ENQUEUE, together=_ENQUEUE_ALL)


_MESSAGES = cast(Table, MailMessage.__table__)
_MESSAGE_COLUMNS: dict[str, Any] = {
    "id": String(),
    "dedupe_key": String(),
    "kind": String(),
    "to_address": String(),
    "subject": String(),
    "text_body": String(),
    "html_body": String(),
    "unsubscribe_url": String(),
    "status": String(),
    "attempts": Integer(),
    "next_attempt_at": UTCDateTime(),
    "created_at": UTCDateTime(),
}
_ENQUEUE = PerDialect(  # every order queues its emails
    lambda insert: insert(_MESSAGES).on_conflict_do_nothing(index_elements=[_MESSAGES.c.dedupe_key])
).prepared(columns=tuple(_MESSAGE_COLUMNS))


def _enqueue_all() -> Prepared:
    """PostgreSQL: many emails queued by one statement, one array per column."""
    statement = insert_from_arrays(_MESSAGES, _MESSAGE_COLUMNS)
    return Prepared(statement.on_conflict_do_nothing(index_elements=[_MESSAGES.c.dedupe_key]))


_ENQUEUE_ALL = _enqueue_all()  # built once: every batch of order emails runs it
_PREFERENCES = cast(Table, MailPreference.__table__)
_CHOICES = Prepared(
    select(_PREFERENCES.c.kind, _PREFERENCES.c.enabled).where(_PREFERENCES.c.email == bindparam("address"))
)


async def _choices(uow: UnitOfWork, email: str) -> dict[str, bool]:
    rows = await uow.fetch(_CHOICES, {"address": email.strip().lower()})
    return {kind: bool(enabled) for kind, enabled in rows}


_CHOICES_OF = Prepared.listing(
    lambda one_of: select(_PREFERENCES.c.email, _PREFERENCES.c.kind, _PREFERENCES.c.enabled).where(
        one_of(_PREFERENCES.c.email, "addresses")
    )
)  # built once: every batch of order emails runs it


async def wanted_emails(*, uow: UnitOfWork, wanted: Sequence[tuple[str, str]]) -> list[bool]:
    """Whether each address wants emails of each kind (on unless turned off, for the kind or for all), for several
    (email, kind) pairs: the addresses' choices read with one statement."""
    addresses = sorted({email.strip().lower() for email, _ in wanted})
    choices: dict[str, dict[str, bool]] = {}
    if addresses:
        for email, kind, enabled in await uow.fetch(_CHOICES_OF, {"addresses": addresses}):
            choices.setdefault(email, {})[kind] = bool(enabled)
    answers = []
    for email, kind in wanted:
        mine = choices.get(email.strip().lower(), {})
        answers.append(mine.get(kind, True) and mine.get(ALL, True))
    return answers


async def email_preferences(*, uow: UnitOfWork, email: str) -> PreferencesRead:
    """Every kind of email and whether this address gets it (on unless turned off)."""
    choices = await _choices(uow, email)
    everything = choices.get(ALL, True)
    return PreferencesRead(email={kind: everything and choices.get(kind, True) for kind in KIND_NAMES})


async def _set(uow: UnitOfWork, email: str, changes: dict[str, bool]) -> None:
    now = utcnow()
    for kind, enabled in sorted(changes.items()):
        await uow.session.execute(
            _insert(uow)(MailPreference)
            .values(email=email, kind=kind, enabled=enabled, updated_at=now)
            .on_conflict_do_update(index_elements=["email", "kind"], set_={"enabled": enabled, "updated_at": now})
        )


async def update_preferences(*, uow: UnitOfWork, email: str, changes: dict[str, bool]) -> PreferencesRead:
    """Turn kinds of email on or off; an unknown kind answers 422 and changes nothing."""
    unknown = sorted(set(changes) - set(KIND_NAMES))
    if unknown:
        raise UnknownMailKind(f"unknown kind of email: {', '.join(unknown)}", unknown=unknown, kinds=list(KIND_NAMES))
    email = email.strip().lower()
    if any(changes.values()) and not (await _choices(uow, email)).get(ALL, True):
        # After "unsubscribe from all", turning one kind back on leaves the others off.
        current = await email_preferences(uow=uow, email=email)
        changes = {**current.email, **changes, ALL: True}
    await _set(uow, email, changes)
    await uow.commit()
    return await email_preferences(uow=uow, email=email)


async def unsubscribe(*, uow: UnitOfWork, secret: str, token: str) -> tuple[str, str]:
    """Turn off the kind (or all email) an unsubscribe link names; answers (address, kind). Repeatable."""
    email, kind = read_unsubscribe_token(secret=secret, token=token, kinds=KIND_NAMES)
    await _set(uow, email, {kind: False})
    await uow.commit()
    return email, kind


def describe_unsubscribe(*, secret: str, token: str) -> tuple[str, str]:
    """What an unsubscribe link would turn off, without doing it (for the confirmation page)."""
    return read_unsubscribe_token(secret=secret, token=token, kinds=KIND_NAMES)
