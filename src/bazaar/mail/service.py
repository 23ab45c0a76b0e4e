"""Mail use cases: queue an email once per (event, kind, recipient); read and change email preferences;
unsubscribe through a signed link."""

from __future__ import annotations

import hashlib
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bazaar.db.dialects import PerDialect
from bazaar.db.driver import Prepared
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
    now = utcnow()
    values = {
        "id": new_id(),
        "dedupe_key": dedupe_key(event_id, kind, to),
        "kind": kind,
        "to_address": to,
        "subject": subject[:300],
        "text_body": text,
        "html_body": html,
        "unsubscribe_url": unsubscribe_url,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    await uow.fetch(_ENQUEUE, values)


_MESSAGES = cast(Table, MailMessage.__table__)
_ENQUEUE = PerDialect(  # every order queues its emails
    lambda insert: insert(_MESSAGES).on_conflict_do_nothing(index_elements=[_MESSAGES.c.dedupe_key])
).prepared(
    columns=(
        "id", "dedupe_key", "kind", "to_address", "subject", "text_body", "html_body", "unsubscribe_url", "status",
        "attempts", "next_attempt_at", "created_at",
    )
)  # fmt: skip
_PREFERENCES = cast(Table, MailPreference.__table__)
_CHOICES = Prepared(
    select(_PREFERENCES.c.kind, _PREFERENCES.c.enabled).where(_PREFERENCES.c.email == bindparam("address"))
)


async def _choices(uow: UnitOfWork, email: str) -> dict[str, bool]:
    rows = await uow.fetch(_CHOICES, {"address": email.strip().lower()})
    return {kind: bool(enabled) for kind, enabled in rows}


async def wants_email(*, uow: UnitOfWork, email: str, kind: str) -> bool:
    choices = await _choices(uow, email)
    return choices.get(kind, True) and choices.get(ALL, True)


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
