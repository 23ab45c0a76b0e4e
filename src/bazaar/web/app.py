"""create_app(settings): the JSON API under /api/v1, the storefront, operations endpoints and embedded workers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bazaar.bootstrap import Container, build_container
from bazaar.search.service import SearchService
from bazaar.settings import Settings
from bazaar.supervision.board import LoadBoard
from bazaar.supervision.heartbeat import keep_beating
from bazaar.web import ops
from bazaar.web.admission import Lanes, WriteAdmission
from bazaar.web.api import (
    accounts,
    admin,
    buyers,
    cart,
    catalog,
    checkout,
    disputes,
    flash_sales,
    hold_figures,
    inventory,
    ledger,
    media,
    notifications,
    orders,
    promotions,
    recommendations,
    reviews,
    search,
)
from bazaar.web.arrival import ArrivalStamp
from bazaar.web.balance import ConnectionBalance, ConnectionShare
from bazaar.web.errors import envelope, install_error_handlers
from bazaar.web.fastpath import ReadFastPath
from bazaar.web.fastwrite import HoldFastPath
from bazaar.web.guards import RequestGuard, SecurityHeaders
from bazaar.web.loop_lag import LoopLag
from bazaar.web.observability import Metrics, ObservabilityMiddleware, configure_logging
from bazaar.web.openapi import describe
from bazaar.web.read_your_writes import ReadYourWrites
from bazaar.web.storefront import pages

log = logging.getLogger("bazaar.web")
API_PREFIX = "/api/v1"
SANDBOX_PAYMENTS_PATH = "/_sandbox/payments"  # a development tool: the built-in provider, outside the API
SANDBOX_SECRET_HEADER = "x-sandbox-secret"


def _sandbox_payments(secret: str) -> ASGIApp:
    """Forward to this process's in-process sandbox provider, to callers that show the sandbox secret.

    Mounted only with BAZAAR_PAYMENT_SANDBOX_PUBLIC (refused in production): anyone who reaches the sandbox can
    look payments up and refund them behind Bazaar's back, so it is never open to buyers.
    """
    expected = secret.encode()

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        shown = Headers(scope=scope).get(SANDBOX_SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(shown, expected):
            body = envelope("not_authenticated", f"the sandbox provider needs the {SANDBOX_SECRET_HEADER} header")
            await JSONResponse(body, status_code=401)(scope, receive, send)
            return
        sandbox = getattr(scope["app"].state.container, "payment_sandbox", None)
        if sandbox is None:
            missing = envelope("not_found", "no sandbox provider in this deployment")
            await JSONResponse(missing, status_code=404)(scope, receive, send)
            return
        await sandbox(scope, receive, send)

    return forward


async def _settle(container: Container) -> None:
    """Before the first request: warm the search engine, open the first database connections, then clear start-up
    garbage and freeze the rest.

    Start-up leaves some 150,000 long-lived objects (modules, classes, routes, schemas) that the
    garbage collector's full passes would walk again and again; a full pass stops every request of
    the process: 100-250 ms measured with the cores busy, the longest waits under load. Frozen
    (`gc.freeze`), they are skipped, and later passes walk only what was made since. Shutdown
    unfreezes, so a process that builds many apps (the tests) can still collect them.
    """
    search = container.extras.get("search")
    if isinstance(search, SearchService):
        try:
            await search.warm_up()
        except Exception:  # a cold engine is slower, not broken: serve anyway
            log.warning("search warm-up failed", exc_info=True)
    try:
        await asyncio.wait_for(container.db.warm(container.settings.db_warm_connections), timeout=5)
    except Exception:  # the database is down or stuck at start: serve anyway (/readyz says so); connect on demand
        log.warning("opening the database connections ahead failed", exc_info=True)
    gc.collect()
    gc.freeze()


async def _still_running(task: asyncio.Task[None]) -> bool:
    return not task.done()


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    settings = settings or (container.settings if container else Settings())
    configure_logging(settings.log_level, settings.log_json)
    share = None
    if settings.balance_connections and settings.web_board_file is not None:  # one of several web processes
        share = ConnectionShare(LoadBoard(settings.web_board_file, settings.web_board_slot))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        c = container or build_container(settings)
        app.state.container = c
        if c.payment_sandbox is not None:  # the in-process sandbox sends its webhooks to this app
            c.payment_sandbox.state.webhook_target = app
        stop = asyncio.Event()
        task = beating = None
        if settings.embedded_workers:
            from bazaar.workers.runner import run_all

            task = asyncio.create_task(run_all(c, stop))
            workers = task
            c.extras.setdefault("readiness", {})["worker"] = lambda: _still_running(workers)
        if settings.heartbeat_file is not None:  # supervised: prove the event loop is alive
            beating = asyncio.create_task(keep_beating(settings.heartbeat_file, stop))
        await _settle(c)
        # On the load board from now on (the server listens as soon as this start-up ends), never before.
        publishing = asyncio.create_task(share.keep_publishing(stop)) if share is not None else None
        sampling = asyncio.create_task(app.state.loop_lag.keep_sampling(stop))
        try:
            yield
        finally:
            gc.unfreeze()
            stop.set()
            sampling.cancel()  # asleep between two samples: nothing of it to finish
            await asyncio.gather(sampling, return_exceptions=True)
            if task is not None:
                await asyncio.wait_for(task, timeout=10)
            if beating is not None:
                await beating
            if publishing is not None:
                await publishing
            if owned:
                await c.close()

    app = FastAPI(
        title="Bazaar",
        version="0.1.0",
        description="A multi-seller marketplace: catalog, search, carts, checkout, orders.",
        lifespan=lifespan,
        # The interactive documentation is a development aid; /openapi.json stays for clients.
        docs_url=None if settings.env == "production" else "/docs",
        redoc_url=None if settings.env == "production" else "/redoc",
    )
    app.openapi = lambda: describe(app)  # type: ignore[method-assign]
    metrics = Metrics()
    app.state.metrics = metrics
    if container is not None:
        app.state.container = container
        if container.payment_sandbox is not None:
            container.payment_sandbox.state.webhook_target = app
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(accounts.router, prefix=API_PREFIX)
    app.include_router(cart.router, prefix=API_PREFIX)
    app.include_router(inventory.router, prefix=API_PREFIX)
    app.include_router(checkout.router, prefix=API_PREFIX)
    app.include_router(orders.router, prefix=API_PREFIX)
    app.include_router(notifications.router, prefix=API_PREFIX)
    app.include_router(buyers.router, prefix=API_PREFIX)
    app.include_router(catalog.router, prefix=API_PREFIX)
    app.include_router(search.router, prefix=API_PREFIX)
    app.include_router(media.router, prefix=API_PREFIX)
    app.include_router(media.files)
    app.include_router(reviews.router, prefix=API_PREFIX)
    app.include_router(promotions.router, prefix=API_PREFIX)
    app.include_router(recommendations.router, prefix=API_PREFIX)
    app.include_router(admin.router, prefix=API_PREFIX)
    app.include_router(ledger.router, prefix=API_PREFIX)
    app.include_router(disputes.router, prefix=API_PREFIX)
    app.include_router(flash_sales.router, prefix=API_PREFIX)
    app.include_router(hold_figures.router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.state.page_error = pages.error_page  # HTML 404s for browsers outside the API
    if settings.payment_sandbox_public and not settings.payment_provider_url:
        settings.check_production_safety()
        app.mount(SANDBOX_PAYMENTS_PATH, _sandbox_payments(settings.payment_sandbox_secret or ""))
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "storefront" / "static")), name="static")
    app.add_middleware(ReadFastPath, prefix=API_PREFIX)  # inside observability: still counted and logged
    app.add_middleware(HoldFastPath, prefix=API_PREFIX)
    app.state.loop_lag = LoopLag()
    app.state.admission = Lanes(
        checkouts=settings.admission_checkouts_per_process,
        checkouts_with_headroom=settings.admission_checkouts_with_headroom,
        loop_lag=app.state.loop_lag,
        writes=settings.admission_writes_per_process,
        wait=settings.admission_wait_seconds,
    )
    app.add_middleware(WriteAdmission, prefix=API_PREFIX, lanes=app.state.admission)  # writes wait here, reads never
    app.add_middleware(SecurityHeaders, hsts_seconds=settings.hsts_seconds)
    app.add_middleware(
        RequestGuard, max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_body_bytes
    )  # before every route and fast path: body size limit, no control characters
    if settings.replica_urls:
        app.add_middleware(ReadYourWrites, sticky_seconds=settings.replica_sticky_seconds)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access_log=settings.access_log)
    if share is not None:
        app.add_middleware(ConnectionBalance, share=share)
    app.add_middleware(ArrivalStamp)  # outermost: when the request reached this process
    return app
