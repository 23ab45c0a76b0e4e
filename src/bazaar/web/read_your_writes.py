"""Read-your-writes with read replicas: a client that has just written reads from the primary for a while.

The client is whoever the request names: its bearer token, else its storefront session cookie, else its
cart (`X-Cart-Id` or the cart cookie). A successful write (POST, PUT, PATCH, DELETE answered below 400)
marks it in the shared cache for BAZAAR_REPLICA_STICKY_SECONDS; while marked, its requests run under
`primary_only()`, so order history and seller lists cannot show it a replica that has not replayed its
write yet. Installed only when replicas are configured: without them every read is on the primary.
"""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.db.replicas import primary_only
from bazaar.kernel.errors import DependencyUnavailable

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_COOKIES = ("bazaar_session", "bazaar_cart")


def client_key(scope: Scope) -> str | None:
    headers = dict(scope.get("headers") or [])
    identity = headers.get(b"authorization") or headers.get(b"x-cart-id")
    if identity is None and b"cookie" in headers:
        cookies = SimpleCookie()
        try:
            cookies.load(headers[b"cookie"].decode("latin-1"))
        except Exception:  # a malformed cookie header names nobody
            return None
        for name in _COOKIES:
            if name in cookies:
                identity = cookies[name].value.encode()
                break
    if not identity:
        return None
    return "wrote:" + hashlib.blake2b(identity, digest_size=12).hexdigest()


class ReadYourWrites:
    """The marks live in the container's cache (Redis in a cluster, so every node honours them)."""

    def __init__(self, app: ASGIApp, *, sticky_seconds: float) -> None:
        self.app = app
        self.sticky_seconds = sticky_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = client_key(scope) if scope["type"] == "http" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        cache = scope["app"].state.container.cache
        if scope["method"] in _WRITES:
            await self._write(cache, key, scope, receive, send)
            return
        try:
            wrote = await cache.get(key) is not None
        except DependencyUnavailable:
            wrote = True  # cannot tell: the primary is always right
        if wrote:
            with primary_only():
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _write(self, cache: Any, key: str, scope: Scope, receive: Receive, send: Send) -> None:
        async def marking_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                try:  # before the answer leaves: the client's next request already reads the primary
                    await cache.set(key, b"1", self.sticky_seconds)
                except DependencyUnavailable:
                    pass
            await send(message)

        with primary_only():
            await self.app(scope, receive, marking_send)
