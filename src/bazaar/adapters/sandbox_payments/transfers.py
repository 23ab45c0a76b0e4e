"""The sandbox's payouts: transfers from the marketplace's balance to sellers' bank accounts, with test accounts
that fail (like the test cards do for payments). Same idempotency rules as every other operation."""

from __future__ import annotations

import sqlite3
from typing import Any

from bazaar.adapters.sandbox_payments.ledger import BadRequest, Ledger, Reply, ServerFailure, fingerprint, parse_money
from bazaar.kernel.clock import iso, utcnow
from bazaar.kernel.ids import new_id

ACCOUNT_CLOSED = "000111111116"  # refused: the bank account is closed (409 account_closed)
TRANSFER_SERVER_ERROR = "000222222227"  # the provider fails with a server error, every time


def transfer(ledger: Ledger, key: str, body: dict[str, Any]) -> Reply:
    amount, currency = parse_money(body.get("amount"))
    destination = body.get("destination")
    if not isinstance(destination, str) or not destination.isdigit() or not 6 <= len(destination) <= 34:
        raise BadRequest("destination must be a bank account number (6-34 digits)")

    def action(conn: sqlite3.Connection) -> Reply:
        if destination == TRANSFER_SERVER_ERROR:
            raise ServerFailure()
        status = "refused" if destination == ACCOUNT_CLOSED else "paid"
        transfer_id = "tr_" + new_id()
        conn.execute(
            "INSERT INTO transfers (id, destination, currency, amount, status, idempotency_key, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (transfer_id, destination, currency, amount, status, key, iso(utcnow())),
        )
        answer = {
            "operation": "transfer",
            "status": "approved" if status == "paid" else "refused",
            "idempotency_key": key,
            "payment_id": None,
            "reference": transfer_id,
            "amount": {"amount": amount, "currency": currency},
            "payment_status": None,
            "error": None if status == "paid" else {"code": "account_closed", "message": "the bank account is closed"},
        }
        return Reply(201 if status == "paid" else 409, answer)

    return ledger.idempotent(key, fingerprint("POST", "/v1/transfers", body), action)


def transfers_total(ledger: Ledger, status: str = "paid") -> tuple[int, int]:
    """(count, amount) of transfers in a status: what tests compare with Bazaar's payouts."""
    with ledger.locked() as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(amount), 0) FROM transfers WHERE status = ?", (status,)
        ).fetchone()
    return int(row[0]), int(row[1])
