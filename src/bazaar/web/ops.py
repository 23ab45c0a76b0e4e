"""Operations endpoints at the root: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select, text

from bazaar.db.outbox import OutboxEvent
from bazaar.disputes import queries as disputes
from bazaar.kernel.clock import aware, utcnow
from bazaar.kernel.metrics import DOMAIN_REGISTRY
from bazaar.ledger import queries as ledger
from bazaar.mail.sender import outbox_counts
from bazaar.supervision import heartbeat
from bazaar.web.api.deps import ContainerDep

router = APIRouter(tags=["operations"])
log = logging.getLogger("bazaar.web")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(container: ContainerDep) -> JSONResponse:
    checks: dict[str, Any] = {}

    async def database() -> bool:
        # The read engine: on SQLite the write engine begins IMMEDIATE and would queue behind any writer (a hung
        # worker holding the write lock kept /readyz from answering at all).
        async with container.db.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def probe(name: str, check: Any) -> None:
        task = asyncio.ensure_future(check())
        done, _ = await asyncio.wait({task}, timeout=2)
        if not done:  # answer now; the check winds down in its own time (a cancelled driver call may not return)
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            task.cancel()
            checks[name] = "down: TimeoutError"
            return
        exc = task.exception()
        if exc is not None:  # a readiness probe reports, it never raises
            checks[name] = f"down: {type(exc).__name__}"
        else:
            checks[name] = "ok" if task.result() else "down"

    async def worker() -> bool:
        assert heartbeat_file is not None
        silent = heartbeat.age(heartbeat_file)
        return silent is not None and silent < container.settings.worker_stale_seconds

    async def events() -> bool:
        """Stuck: the oldest event not yet handled by every subscription (settled) is too old."""
        async with container.read_uow() as uow:
            oldest = await uow.session.execute(
                select(OutboxEvent.created_at).where(OutboxEvent.settled_at.is_(None)).order_by(OutboxEvent.id).limit(1)
            )
            created = oldest.scalar()
        return created is None or (utcnow() - aware(created)).total_seconds() < settings.ready_max_event_age_seconds

    settings = container.settings
    heartbeat_file = settings.worker_heartbeat_file
    probes: dict[str, Any] = {"database": database}
    if settings.redis_url:
        probes["redis"] = container.cache.ping
    if heartbeat_file is not None:
        probes["worker"] = worker
    probes["events"] = events
    probes.update(container.extras.get("readiness", {}))
    await asyncio.gather(*(probe(name, check) for name, check in probes.items()))  # all at once: ~2 s at worst
    answered = {name: checks[name] for name in probes}  # in a fixed order
    ready = all(v == "ok" for v in answered.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "node": container.node_id, "checks": answered},
        status_code=200 if ready else 503,
    )


async def _marketplace(uow: Any) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]], dict[str, int]]:
    return (
        await disputes.counts_by_status(uow=uow),
        await ledger.payout_counts(uow=uow),
        await ledger.totals(uow=uow),
    )


@router.get("/metrics")
async def metrics(request: Request, container: ContainerDep) -> Response:
    app_metrics = request.app.state.metrics
    try:  # a few queries at scrape time; if the stream is slow or down, the scrape still answers
        app_metrics.observe_events(await asyncio.wait_for(container.events.stats(), timeout=2))
    except Exception as exc:
        log.warning("event stream metrics unavailable: %s", exc)
    try:
        async with container.read_uow() as uow:
            app_metrics.observe_mail(await asyncio.wait_for(outbox_counts(uow=uow), timeout=2))
    except Exception as exc:
        log.warning("mail outbox metrics unavailable: %s", exc)
    try:
        async with container.read_uow() as uow:
            app_metrics.observe_marketplace(*await asyncio.wait_for(_marketplace(uow), timeout=2))
    except Exception as exc:
        log.warning("marketplace metrics unavailable: %s", exc)
    try:  # hold figures from the database, so every process reports the same
        await asyncio.wait_for(container.hold_durations.refresh(), timeout=2)
    except Exception as exc:
        log.warning("hold figures unavailable: %s", exc)
    app_metrics.observe_admission(request.app.state.admission)
    body = generate_latest(app_metrics.registry) + generate_latest(DOMAIN_REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
