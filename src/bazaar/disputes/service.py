"""Disputes use cases: take the provider's signed webhook, keep each dispute's state (never going back, so events
may arrive in any order), post its money to the sellers' ledger in the same transaction, and forward a seller's
evidence to the provider."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bazaar.db.uow import UnitOfWork
from bazaar.disputes.errors import DisputeClosed, DisputeNotFound, InvalidSignature, MalformedWebhook
from bazaar.disputes.events import DisputeClosed as DisputeClosedEvent
from bazaar.disputes.events import DisputeOpened
from bazaar.disputes.models import STATUS_RANK, Dispute, DisputeSeller, PaymentWebhookEvent
from bazaar.disputes.queries import dispute_read
from bazaar.disputes.schemas import DisputeRead
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ids import new_id
from bazaar.kernel.ports import PaymentGateway
from bazaar.ledger import service as ledger
from bazaar.orders import queries as orders
from bazaar.payments import queries as payments

log = logging.getLogger("bazaar.disputes")
TARGET = {"dispute.opened": "open", "dispute.updated": "under_review", "dispute.won": "won", "dispute.lost": "lost"}


@dataclass(frozen=True)
class WebhookPolicy:
    secret: str
    default_fee: int
    hold: timedelta


def verify_signature(*, secret: str, body: bytes, signature: str | None) -> None:
    """HMAC-SHA256 of the raw body, hex (optionally `sha256=`-prefixed), compared in constant time."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = (signature or "").strip().removeprefix("sha256=")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidSignature()


def _parse(body: bytes) -> tuple[str, str, dict[str, Any]]:
    try:
        event = json.loads(body)
        event_id, kind, data = event["id"], event["type"], event.get("data") or {}
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedWebhook("the body is not a provider event") from exc
    if not isinstance(event_id, str) or not isinstance(kind, str) or not isinstance(data, dict):
        raise MalformedWebhook("the body is not a provider event")
    if not 1 <= len(event_id) <= 80:
        raise MalformedWebhook("the event id is too long")
    return event_id, kind, data


async def handle_webhook(*, uow: UnitOfWork, body: bytes, signature: str | None, policy: WebhookPolicy) -> str:
    """Verify, remember the event id, apply it; answers `applied`, `duplicate` or `ignored`. Nothing changes
    unless the signature matches."""
    verify_signature(secret=policy.secret, body=body, signature=signature)
    event_id, kind, data = _parse(body)
    insert = pg_insert if uow.is_postgres else sqlite_insert
    fresh = await uow.session.execute(
        insert(PaymentWebhookEvent)
        .values(event_id=event_id, type=kind[:60], received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    if not fresh.rowcount:  # type: ignore[attr-defined]
        await uow.rollback()
        return "duplicate"
    outcome = "ignored"
    if kind in TARGET and isinstance(data.get("dispute"), dict):
        outcome = await _apply(uow, TARGET[kind], data["dispute"], policy)
    await uow.commit()
    return outcome


def _money(value: Any) -> tuple[int, str]:
    try:
        return int(value["amount"]), str(value["currency"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedWebhook("a dispute's amount must be {amount, currency}") from exc


async def _apply(uow: UnitOfWork, target: str, data: dict[str, Any], policy: WebhookPolicy) -> str:
    provider_id, provider_payment = str(data.get("id") or ""), str(data.get("payment_id") or "")
    amount, currency = _money(data.get("amount"))
    fee = _money(data["fee"])[0] if isinstance(data.get("fee"), dict) else policy.default_fee
    found = await payments.payment_by_provider_id(uow=uow, provider_payment_id=provider_payment)
    payment_id, order_id = found if found is not None else ("", None)
    if not provider_id or order_id is None:
        log.warning("dispute %s on unknown payment %s ignored", provider_id, provider_payment)
        return "ignored"
    dispute, opened = await _lock_or_create(uow, provider_id, payment_id, order_id, amount, fee, currency, data)
    order = await orders.order_money(uow=uow, order_id=order_id)
    sellers, buyer_id = tuple(sorted(order.sellers)), order.buyer_id
    if opened:
        uow.emit(DisputeOpened(dispute.id, order_id, buyer_id, sellers, amount, currency, dispute.reason))
    # The provider takes the amount back when the dispute opens, whichever event we hear of first.
    await ledger.record_dispute(uow=uow, order_id=order_id, dispute_id=dispute.id, step="opened", amount=amount,
                                currency=currency, hold=policy.hold)  # fmt: skip
    if STATUS_RANK[target] <= STATUS_RANK[dispute.status]:
        return "applied"  # older news (events may arrive out of order): nothing goes back
    closing = target in ("won", "lost")
    await uow.session.execute(
        update(Dispute)
        .where(Dispute.id == dispute.id)
        .values(status=target, fee=fee, closed_at=utcnow() if closing else None, updated_at=utcnow())
    )
    if closing:
        step, money = ("won", amount) if target == "won" else ("lost", fee)
        await ledger.record_dispute(uow=uow, order_id=order_id, dispute_id=dispute.id, step=step, amount=money,
                                    currency=currency, hold=policy.hold)  # fmt: skip
        uow.emit(DisputeClosedEvent(dispute.id, order_id, buyer_id, sellers, target, amount, fee, currency))
    return "applied"


async def _lock_or_create(
    uow: UnitOfWork, provider_id: str, payment_id: str, order_id: str, amount: int, fee: int, currency: str,
    data: dict[str, Any],
) -> tuple[Dispute, bool]:  # fmt: skip
    """The dispute row, locked for this transaction; created (status open) if this is the first we hear of it."""
    insert = pg_insert if uow.is_postgres else sqlite_insert
    now = utcnow()
    created = await uow.session.execute(
        insert(Dispute)
        .values(
            id=new_id(), provider_dispute_id=provider_id, payment_id=payment_id, order_id=order_id, amount=amount,
            fee=fee, currency=currency, reason=str(data.get("reason") or "")[:200], status="open", opened_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["provider_dispute_id"])
    )  # fmt: skip
    query = select(Dispute).where(Dispute.provider_dispute_id == provider_id).execution_options(populate_existing=True)
    dispute = (await uow.session.execute(query.with_for_update() if uow.is_postgres else query)).scalar_one()
    opened = bool(created.rowcount)  # type: ignore[attr-defined]
    if opened:
        for seller_id in sorted((await orders.order_money(uow=uow, order_id=order_id)).sellers):
            uow.session.add(DisputeSeller(dispute_id=dispute.id, seller_id=seller_id))
    return dispute, opened


async def submit_evidence(
    *, uow: UnitOfWork, gateway: PaymentGateway, seller_id: str, dispute_id: str, text: str
) -> DisputeRead:
    """A seller answers a dispute on one of its orders; the provider gets the text (under a key derived from it,
    so a double submit sends once) and puts the dispute under review."""
    dispute = await _seller_dispute(uow, seller_id, dispute_id)
    if dispute.status in ("won", "lost"):
        raise DisputeClosed(status=dispute.status)
    await uow.session.execute(
        update(Dispute).where(Dispute.id == dispute_id).values(evidence=text, evidence_at=utcnow(), updated_at=utcnow())
    )
    await uow.commit()
    key = f"evidence:{dispute_id}:{hashlib.sha256(text.encode()).hexdigest()[:24]}"
    status, answer = await gateway.submit_dispute_evidence(
        idempotency_key=key, provider_dispute_id=dispute.provider_dispute_id, text=text
    )
    if status == 409:
        raise DisputeClosed(str((answer.get("error") or {}).get("message") or "the dispute is already decided"))
    if status >= 300:
        raise DisputeNotFound("the provider does not know this dispute")
    rank = STATUS_RANK["under_review"]
    current = (await uow.session.execute(select(Dispute.status).where(Dispute.id == dispute_id))).scalar_one()
    if STATUS_RANK[current] < rank:
        await uow.session.execute(update(Dispute).where(Dispute.id == dispute_id).values(status="under_review"))
    await uow.commit()
    return await dispute_read(uow, await _seller_dispute(uow, seller_id, dispute_id))


async def _seller_dispute(uow: UnitOfWork, seller_id: str, dispute_id: str) -> Dispute:
    found = await uow.session.execute(
        select(Dispute)
        .join(DisputeSeller, DisputeSeller.dispute_id == Dispute.id)
        .where(Dispute.id == dispute_id, DisputeSeller.seller_id == seller_id)
        .execution_options(populate_existing=True)
    )
    dispute = found.scalar_one_or_none()
    if dispute is None:
        raise DisputeNotFound()
    return dispute
