"""/readyz tells the load balancer the truth: not ready while the worker is silent or events are stuck."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bazaar.db.outbox import OutboxEvent
from bazaar.kernel.clock import utcnow
from bazaar.supervision.heartbeat import beat


async def test_readyz_is_not_ready_while_events_wait_too_long_to_be_handled(
    client: httpx.AsyncClient, container: Any
) -> None:
    assert (await client.get("/readyz")).json()["checks"]["events"] == "ok"
    async with container.uow() as uow:
        uow.session.add(
            OutboxEvent(event_id="stuck-1", topic="t.v1", key="k", payload={}, created_at=utcnow() - timedelta(hours=1))
        )
        await uow.commit()
    r = await client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["events"] == "down", r.text


async def test_readyz_is_not_ready_while_the_worker_heartbeat_is_stale(
    client: httpx.AsyncClient, container: Any, tmp_path: Path
) -> None:
    beat_file = tmp_path / "worker.heartbeat"
    container.settings.worker_heartbeat_file = beat_file
    container.settings.worker_stale_seconds = 0.5
    r = await client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["worker"] == "down"  # never started
    beat(beat_file)
    await container.extras["search_indexer"].run_once()  # the node's search replica catches up too
    assert (await client.get("/readyz")).status_code == 200
    beat_file.write_text(f"1 {utcnow().timestamp() - 5}\n")  # silent for 5 s
    assert (await client.get("/readyz")).json()["checks"]["worker"] == "down"


async def test_readyz_answers_while_another_process_holds_the_write_lock(
    client: httpx.AsyncClient, container: Any
) -> None:
    """A hung worker stopped inside a write transaction: /readyz still answers at once (it reads; it does not
    queue behind the writer for the 30 s busy timeout), so the supervisor and the balancer are told."""
    if not container.db.dialect == "sqlite":
        pytest.skip("the single-writer lock is SQLite's")
    await client.get("/readyz")  # a running node: its connections are open and the database is in WAL mode
    url = container.settings.resolved_database_url
    writer = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as a stopped worker mid-transaction would
        r = await asyncio.wait_for(client.get("/readyz"), timeout=10)
        assert r.json()["checks"]["database"] == "ok", r.text
    finally:
        writer.execute("ROLLBACK")
        writer.close()
