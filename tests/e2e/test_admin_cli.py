"""`bazaar admin grant EMAIL` and `bazaar payouts run` as an operator types them, on a fresh embedded data dir."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bazaar.cli import main
from bazaar.db.migrate import upgrade
from bazaar.settings import Settings


def test_admin_grant_and_payouts_run_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BAZAAR_DATA_DIR", str(tmp_path))
    for name in ("BAZAAR_DATABASE_URL", "BAZAAR_REDIS_URL", "BAZAAR_PAYMENT_PROVIDER_URL"):
        monkeypatch.delenv(name, raising=False)
    upgrade(Settings())
    db = tmp_path / "bazaar.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO users (id, email, name, password_hash, is_admin, is_guest, created_at)"
            " VALUES ('u1', 'ops@example.com', 'Ops', 'x', 0, 0, '2026-01-01 00:00:00')"
        )
    assert main(["admin", "grant", "nobody@example.com"]) == 1
    assert "no account" in capsys.readouterr().err
    assert main(["admin", "grant", "OPS@example.com"]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT is_admin FROM users WHERE id = 'u1'").fetchone() == (1,)
    assert main(["payouts", "run"]) == 0
    assert "0 paid" in capsys.readouterr().out
