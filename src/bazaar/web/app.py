"""create_app(settings): the JSON API under /api/v1, the storefront, operations endpoints and embedded workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from bazaar.bootstrap import Container, build_container
from bazaar.settings import Settings
from bazaar.web import ops
from bazaar.web.api import accounts, catalog, search
from bazaar.web.errors import install_error_handlers
from bazaar.web.fastpath import ReadFastPath
from bazaar.web.observability import Metrics, ObservabilityMiddleware, configure_logging
from bazaar.web.storefront import pages

log = logging.getLogger("bazaar.web")
API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    settings = settings or (container.settings if container else Settings())
    configure_logging(settings.log_level, settings.log_json)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        c = container or build_container(settings)
        app.state.container = c
        stop = asyncio.Event()
        task = None
        if settings.embedded_workers:
            from bazaar.workers.runner import run_all

            task = asyncio.create_task(run_all(c, stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await asyncio.wait_for(task, timeout=10)
            if owned:
                await c.close()

    app = FastAPI(
        title="Bazaar",
        version="0.1.0",
        description="A multi-seller marketplace: catalog, search, carts, checkout, orders.",
        lifespan=lifespan,
    )
    metrics = Metrics()
    app.state.metrics = metrics
    if container is not None:
        app.state.container = container
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(accounts.router, prefix=API_PREFIX)
    app.include_router(catalog.router, prefix=API_PREFIX)
    app.include_router(search.router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "storefront" / "static")), name="static")
    app.add_middleware(ReadFastPath, prefix=API_PREFIX)  # inside observability: still counted and logged
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access_log=settings.access_log)
    return app
