"""The sandbox provider's own books, in its own SQLite file: payments, operations and stored idempotent answers.

Every request runs as one `BEGIN IMMEDIATE` transaction, so requests — from several threads or several
processes sharing the file — are serialised: the idempotency check, the rule checks and the write can
never interleave with another request's. Provider-side rules:
- one capture per payment, of at most the authorized amount (the rest of the authorization is released);
- a void only while nothing is captured; refunds, possibly several, never more than the capture in total;
- a key repeated with the same request answers the stored answer; with another request, 409.
Server errors store nothing under the key, so a retry runs the request again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bazaar.adapters.sandbox_payments import cards
from bazaar.kernel.clock import iso, utcnow
from bazaar.kernel.ids import new_id
from bazaar.kernel.money import MAX_AMOUNT as KERNEL_MAX_AMOUNT

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('authorized', 'captured', 'voided', 'partially_refunded', 'refunded')),
    currency TEXT NOT NULL,
    authorized INTEGER NOT NULL CHECK (authorized > 0),
    captured INTEGER NOT NULL DEFAULT 0 CHECK (captured <= authorized),
    refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded <= captured),
    card_last4 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    payment_id TEXT REFERENCES payments (id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    amount INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_operations_payment ON operations (payment_id);
CREATE TABLE IF NOT EXISTS transfers (
    id TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL CHECK (status IN ('paid', 'refused')),
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS disputes (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    fee INTEGER NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'under_review', 'won', 'lost')),
    evidence TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    body TEXT NOT NULL,
    answer_lost INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
"""

MAX_AMOUNT = KERNEL_MAX_AMOUNT  # the provider's limit for one payment: the marketplace's one bound on money


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: dict[str, Any]
    answer_lost: bool = False  # the "times out after authorizing" card: the caller never gets this answer


class BadRequest(ValueError):
    """The request itself is malformed (not a refusal): answered 400 and not stored under the key."""


class ServerFailure(Exception):
    """The provider fails: nothing is stored under the key, so a retry runs the request again."""


def parse_money(value: Any) -> tuple[int, str]:
    if not isinstance(value, dict):
        raise BadRequest("amount must be an object {amount, currency}")
    amount, currency = value.get("amount"), value.get("currency")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        raise BadRequest("amount.amount must be a positive integer number of minor units")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise BadRequest("amount.currency must be an ISO-4217 code")
    return amount, currency


def fingerprint(method: str, path: str, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _answer(
    operation: str,
    key: str,
    *,
    status: str,
    amount: int,
    currency: str,
    payment: sqlite3.Row | None = None,
    reference: str | None = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "operation": operation,
        "status": status,
        "idempotency_key": key,
        "payment_id": payment["id"] if payment is not None else None,
        "reference": reference,
        "amount": {"amount": amount, "currency": currency},
        "payment_status": payment["status"] if payment is not None else None,
        "error": {"code": error[0], "message": error[1]} if error else None,
    }


class Ledger:
    """One connection, used by one thread at a time: requests in this process queue on a lock (cheaper than
    SQLite's busy handler, whose sleeps grow to 100 ms, or than reopening the file per request); other
    processes sharing the file wait on BEGIN IMMEDIATE with a busy timeout."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- the transaction every request runs in -------------------------------------------------

    def idempotent(self, key: str, print_: str, action: Callable[[sqlite3.Connection], Reply]) -> Reply:
        """Answer the stored reply for `key`, or run `action` and store its reply, all in one transaction."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute("SELECT * FROM idempotency WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    conn.execute("ROLLBACK")
                    if row["fingerprint"] != print_:
                        return Reply(409, {"error": {"code": "idempotency_key_reused", "message": _REUSED}})
                    return Reply(row["status_code"], json.loads(row["body"]), bool(row["answer_lost"]))
                try:
                    reply = action(conn)
                except ServerFailure:
                    conn.execute("ROLLBACK")
                    return Reply(500, {"error": {"code": "processing_error", "message": "the processor failed"}})
                conn.execute(
                    "INSERT INTO idempotency (key, fingerprint, status_code, body, answer_lost, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (key, print_, reply.status_code, json.dumps(reply.body), int(reply.answer_lost), iso(utcnow())),
                )
                conn.execute("COMMIT")
                return reply
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, for a read outside any request."""
        with self._lock:
            yield self._conn

    def _read(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def stored(self, key: str) -> Reply | None:
        rows = self._read("SELECT status_code, body FROM idempotency WHERE key = ?", key)
        return Reply(rows[0]["status_code"], json.loads(rows[0]["body"])) if rows else None

    def payment(self, payment_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM payments WHERE id = ?", payment_id)
        if not rows:
            return None
        ops = self._read(
            "SELECT id, kind, status, amount, idempotency_key, created_at FROM operations"
            " WHERE payment_id = ? ORDER BY created_at, id",
            payment_id,
        )
        return {**dict(rows[0]), "operations": [dict(op) for op in ops]}

    def count_operations(self, kind: str, status: str = "approved") -> int:
        """How many operations of a kind the provider performed (what tests check to prove no double charge)."""
        rows = self._read("SELECT count(*) FROM operations WHERE kind = ? AND status = ?", kind, status)
        return int(rows[0][0])

    # -- operations -----------------------------------------------------------------------------

    def authorize(self, key: str, body: dict[str, Any], *, today: date | None = None) -> Reply:
        amount, currency = parse_money(body.get("amount"))
        card = body.get("card")
        # Only a hash of the request is kept under the key, never the card number itself.
        request_print = fingerprint("POST", "/v1/authorizations", {"amount": body.get("amount"), "card": card})

        def action(conn: sqlite3.Connection) -> Reply:
            problem = cards.card_problem(card, today=today or utcnow().date())
            if problem is not None:
                self._log(conn, None, "authorize", "invalid_card", amount, key)
                answer = _answer(
                    "authorize",
                    key,
                    status="invalid_card",
                    amount=amount,
                    currency=currency,
                    error=("invalid_card", problem),
                )
                return Reply(422, answer)
            assert isinstance(card, dict)
            kind = cards.behaviour(card["number"])
            if kind is cards.CardBehaviour.SERVER_ERROR:
                raise ServerFailure()
            if kind in (cards.CardBehaviour.DECLINE, cards.CardBehaviour.INSUFFICIENT_FUNDS):
                status = "declined" if kind is cards.CardBehaviour.DECLINE else "insufficient_funds"
                message = "the card was declined" if status == "declined" else "the card has insufficient funds"
                self._log(conn, None, "authorize", status, amount, key)
                answer = _answer(
                    "authorize",
                    key,
                    status=status,
                    amount=amount,
                    currency=currency,
                    error=("card_declined" if status == "declined" else status, message),
                )
                return Reply(402, answer)
            now = iso(utcnow())
            payment_id = "pay_" + new_id()
            conn.execute(
                "INSERT INTO payments (id, status, currency, authorized, card_last4, created_at, updated_at)"
                " VALUES (?, 'authorized', ?, ?, ?, ?, ?)",
                (payment_id, currency, amount, card["number"][-4:], now, now),
            )
            reference = self._log(conn, payment_id, "authorize", "approved", amount, key)
            payment = self._payment_row(conn, payment_id)
            answer = _answer(
                "authorize",
                key,
                status="approved",
                amount=amount,
                currency=currency,
                payment=payment,
                reference=reference,
            )
            return Reply(201, answer, answer_lost=kind is cards.CardBehaviour.TIMEOUT_AFTER_AUTHORIZING)

        return self.idempotent(key, request_print, action)

    def capture(self, key: str, payment_id: str, body: dict[str, Any]) -> Reply:
        amount, currency = parse_money(body.get("amount"))

        def action(conn: sqlite3.Connection) -> Reply:
            payment = self._payment_row(conn, payment_id)
            refusal = self._refusal(payment, currency, allowed=("authorized",))
            if refusal is None and payment is not None and amount > payment["authorized"]:
                refusal = (409, "amount_exceeds_authorized", "cannot capture more than was authorized")
            if refusal is not None:
                return self._refused(conn, "capture", key, payment, amount, currency, refusal)
            conn.execute(
                "UPDATE payments SET status = 'captured', captured = ?, updated_at = ? WHERE id = ?",
                (amount, iso(utcnow()), payment_id),
            )
            return self._approved(conn, "capture", key, payment_id, amount, currency, 200)

        return self.idempotent(key, fingerprint("POST", f"/v1/payments/{payment_id}/capture", body), action)

    def void(self, key: str, payment_id: str, body: dict[str, Any]) -> Reply:
        def action(conn: sqlite3.Connection) -> Reply:
            payment = self._payment_row(conn, payment_id)
            currency = payment["currency"] if payment is not None else "USD"
            refusal = self._refusal(payment, currency, allowed=("authorized",))
            if refusal is not None:
                return self._refused(conn, "void", key, payment, 0, currency, refusal)
            assert payment is not None
            conn.execute(
                "UPDATE payments SET status = 'voided', updated_at = ? WHERE id = ?", (iso(utcnow()), payment_id)
            )
            return self._approved(conn, "void", key, payment_id, payment["authorized"], currency, 200)

        return self.idempotent(key, fingerprint("POST", f"/v1/payments/{payment_id}/void", body), action)

    def refund(self, key: str, payment_id: str, body: dict[str, Any]) -> Reply:
        amount, currency = parse_money(body.get("amount"))

        def action(conn: sqlite3.Connection) -> Reply:
            payment = self._payment_row(conn, payment_id)
            refusal = self._refusal(payment, currency, allowed=("captured", "partially_refunded"))
            if refusal is None and payment is not None and payment["refunded"] + amount > payment["captured"]:
                refusal = (409, "refund_exceeds_captured", "refunds cannot exceed the captured amount")
            if refusal is not None:
                return self._refused(conn, "refund", key, payment, amount, currency, refusal)
            assert payment is not None
            refunded = payment["refunded"] + amount
            status = "refunded" if refunded == payment["captured"] else "partially_refunded"
            conn.execute(
                "UPDATE payments SET status = ?, refunded = ?, updated_at = ? WHERE id = ?",
                (status, refunded, iso(utcnow()), payment_id),
            )
            return self._approved(conn, "refund", key, payment_id, amount, currency, 201)

        return self.idempotent(key, fingerprint("POST", f"/v1/payments/{payment_id}/refunds", body), action)

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _payment_row(conn: sqlite3.Connection, payment_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
        return row

    @staticmethod
    def _refusal(
        payment: sqlite3.Row | None, currency: str, *, allowed: tuple[str, ...]
    ) -> tuple[int, str, str] | None:
        if payment is None:
            return (404, "payment_not_found", "no such payment")
        if payment["currency"] != currency:
            return (409, "currency_mismatch", f"the payment is in {payment['currency']}")
        if payment["status"] not in allowed:
            return (409, f"payment_{payment['status']}", f"not allowed: the payment is {payment['status']}")
        return None

    def _refused(
        self,
        conn: sqlite3.Connection,
        operation: str,
        key: str,
        payment: sqlite3.Row | None,
        amount: int,
        currency: str,
        refusal: tuple[int, str, str],
    ) -> Reply:
        status_code, code, message = refusal
        self._log(conn, payment["id"] if payment is not None else None, operation, "refused", amount, key)
        answer = _answer(
            operation, key, status="refused", amount=amount, currency=currency, payment=payment, error=(code, message)
        )
        return Reply(status_code, answer)

    def _approved(
        self, conn: sqlite3.Connection, operation: str, key: str, payment_id: str, amount: int, currency: str, code: int
    ) -> Reply:
        reference = self._log(conn, payment_id, operation, "approved", amount, key)
        payment = self._payment_row(conn, payment_id)
        answer = _answer(
            operation, key, status="approved", amount=amount, currency=currency, payment=payment, reference=reference
        )
        return Reply(code, answer)

    @staticmethod
    def _log(conn: sqlite3.Connection, payment_id: str | None, kind: str, status: str, amount: int, key: str) -> str:
        op_id = "op_" + new_id()
        conn.execute(
            "INSERT INTO operations (id, payment_id, kind, status, amount, idempotency_key, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (op_id, payment_id, kind, status, amount, key, iso(utcnow())),
        )
        return op_id


_REUSED = "this idempotency key was used with a different request"
