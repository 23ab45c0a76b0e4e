"""When a request reached this process: stamped first thing, so a queue can order buyers by their arrival rather
than by when a busy process got round to them (a flash sale's waiting room)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from starlette.types import ASGIApp, Receive, Scope, Send

KEY = "bazaar.arrived"


class ArrivalStamp:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[KEY] = time.time()
        await self.app(scope, receive, send)


def arrival_time(scope: Scope) -> datetime | None:
    stamped = scope.get(KEY)
    return datetime.fromtimestamp(stamped, tz=UTC) if stamped is not None else None
