"""/readyz tells the load balancer the truth: not ready while the worker is silent or events are stuck."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

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
