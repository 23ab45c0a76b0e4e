"""The sandbox's disputes (chargebacks) and the signed webhooks that tell the marketplace about them.

A test (or a person) opens a dispute on a captured payment and later decides it, as a card network would;
the marketplace answers with evidence through the provider API. Every change queues a webhook event in the
sandbox's books (`dispute.opened`, `dispute.updated`, `dispute.won`, `dispute.lost`), delivered signed with
HMAC-SHA256 of the raw body (header `Bazaar-Signature`) to the configured target, retried on the next change
or by `POST /sandbox/webhooks/redeliver`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from typing import Any

from bazaar.adapters.sandbox_payments.ledger import BadRequest, Ledger, Reply, fingerprint, parse_money
from bazaar.kernel.clock import iso, utcnow
from bazaar.kernel.ids import new_id

DISPUTE_FEE = 1500  # what a lost dispute costs, in minor units
SIGNATURE_HEADER = "Bazaar-Signature"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _dispute_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "payment_id": row["payment_id"],
        "amount": {"amount": row["amount"], "currency": row["currency"]},
        "fee": {"amount": row["fee"], "currency": row["currency"]},
        "reason": row["reason"],
        "status": row["status"],
        "evidence": row["evidence"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _queue(conn: sqlite3.Connection, kind: str, dispute: sqlite3.Row) -> None:
    event_id = "evt_" + new_id()
    now = iso(utcnow())
    body = {"id": event_id, "type": kind, "created": now, "data": {"dispute": _dispute_json(dispute)}}
    conn.execute(
        "INSERT INTO webhook_events (id, type, body, created_at) VALUES (?, ?, ?, ?)",
        (event_id, kind, json.dumps(body, separators=(",", ":")), now),
    )


def open_dispute(ledger: Ledger, payment_id: str, body: dict[str, Any]) -> Reply:
    """Open a dispute on a captured payment, for at most what was captured and not refunded."""
    amount, currency = parse_money(body.get("amount"))
    reason = body.get("reason") or "fraudulent"
    if not isinstance(reason, str) or len(reason) > 200:
        raise BadRequest("reason must be a short text")

    def action(conn: sqlite3.Connection) -> Reply:
        payment = conn.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
        if payment is None:
            return Reply(404, {"error": {"code": "payment_not_found", "message": "no such payment"}})
        if payment["status"] not in ("captured", "partially_refunded") or payment["currency"] != currency:
            return Reply(409, {"error": {"code": "not_disputable", "message": "only captured payments are disputed"}})
        if amount > payment["captured"] - payment["refunded"]:
            return Reply(409, {"error": {"code": "amount_exceeds_captured", "message": "more than was captured"}})
        now = iso(utcnow())
        dispute_id = "dp_" + new_id()
        conn.execute(
            "INSERT INTO disputes (id, payment_id, currency, amount, fee, reason, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
            (dispute_id, payment_id, currency, amount, DISPUTE_FEE, reason, now, now),
        )
        row = conn.execute("SELECT * FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
        _queue(conn, "dispute.opened", row)
        return Reply(201, _dispute_json(row))

    key = f"sandbox-open-dispute:{new_id()}"  # each call opens a new dispute
    return ledger.idempotent(key, fingerprint("POST", f"/sandbox/payments/{payment_id}/disputes", body), action)


def _change(ledger: Ledger, dispute_id: str, key: str, print_: str, apply: Any) -> Reply:
    def action(conn: sqlite3.Connection) -> Reply:
        row = conn.execute("SELECT * FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
        if row is None:
            return Reply(404, {"error": {"code": "dispute_not_found", "message": "no such dispute"}})
        refusal = apply(conn, row)
        if refusal is not None:
            return refusal
        row = conn.execute("SELECT * FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
        return Reply(200, _dispute_json(row))

    return ledger.idempotent(key, print_, action)


def resolve_dispute(ledger: Ledger, dispute_id: str, body: dict[str, Any]) -> Reply:
    """Decide a dispute as the card network would: `won` (the marketplace keeps the money) or `lost`."""
    outcome = body.get("outcome")
    if outcome not in ("won", "lost"):
        raise BadRequest("outcome must be won or lost")

    def apply(conn: sqlite3.Connection, row: sqlite3.Row) -> Reply | None:
        if row["status"] in ("won", "lost"):
            return Reply(409, {"error": {"code": "dispute_closed", "message": f"the dispute was {row['status']}"}})
        conn.execute("UPDATE disputes SET status = ?, updated_at = ? WHERE id = ?", (outcome, iso(utcnow()), row["id"]))
        _queue(conn, f"dispute.{outcome}", conn.execute("SELECT * FROM disputes WHERE id = ?", (row["id"],)).fetchone())
        return None

    key = f"sandbox-resolve-dispute:{dispute_id}:{outcome}"
    return _change(ledger, dispute_id, key, fingerprint("POST", f"/sandbox/disputes/{dispute_id}/resolve", body), apply)


def submit_evidence(ledger: Ledger, key: str, dispute_id: str, body: dict[str, Any]) -> Reply:
    """The marketplace's answer to an open dispute (provider API, idempotent by key): it goes under review."""
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 20_000:
        raise BadRequest("text must be 1-20000 characters")

    def apply(conn: sqlite3.Connection, row: sqlite3.Row) -> Reply | None:
        if row["status"] in ("won", "lost"):
            return Reply(409, {"error": {"code": "dispute_closed", "message": f"the dispute was {row['status']}"}})
        conn.execute(
            "UPDATE disputes SET status = 'under_review', evidence = ?, updated_at = ? WHERE id = ?",
            (text, iso(utcnow()), row["id"]),
        )
        _queue(conn, "dispute.updated", conn.execute("SELECT * FROM disputes WHERE id = ?", (row["id"],)).fetchone())
        return None

    return _change(ledger, dispute_id, key, fingerprint("POST", f"/v1/disputes/{dispute_id}/evidence", body), apply)


def undelivered(ledger: Ledger, limit: int = 100) -> list[tuple[str, bytes]]:
    with ledger.locked() as conn:
        rows = conn.execute(
            "SELECT id, body FROM webhook_events WHERE delivered_at IS NULL ORDER BY created_at, id LIMIT ?", (limit,)
        ).fetchall()
    return [(r["id"], r["body"].encode()) for r in rows]


def mark_attempt(ledger: Ledger, event_id: str, delivered: bool) -> None:
    with ledger.locked() as conn:
        conn.execute(
            "UPDATE webhook_events SET attempts = attempts + 1, delivered_at = ? WHERE id = ?",
            (iso(utcnow()) if delivered else None, event_id),
        )


def sent_events(ledger: Ledger) -> list[dict[str, Any]]:
    """Every webhook event the sandbox made, oldest first (tests replay and reorder them)."""
    with ledger.locked() as conn:
        rows = conn.execute("SELECT body FROM webhook_events ORDER BY created_at, id").fetchall()
    return [json.loads(r["body"]) for r in rows]
