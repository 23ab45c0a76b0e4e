"""A lean ASGI fast path for the hottest read: GET /api/v1/products/{id} answered from the page cache.

FastAPI's routing and dependency resolution cost about ten times what serving cached bytes
does, so a cache hit is answered here, before the router. Anything else (other methods and
paths, unknown products, errors) goes on to the app, whose documented route gives the same
answer on its own; the two share ProductPages, so bytes, ETags and headers are identical.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from bazaar.catalog.page_cache import ProductPages
from bazaar.kernel.caching import etag_matches
from bazaar.kernel.errors import DomainError

CACHE_CONTROL = b"public, max-age=5"


class ProductPageFastPath:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix + "/products/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        product_id = scope["path"][len(self.prefix) :]
        pages: ProductPages | None = getattr(scope["app"].state, "container", None) and scope[
            "app"
        ].state.container.extras.get("product_pages")
        if not product_id or "/" in product_id or pages is None:
            await self.app(scope, receive, send)
            return
        try:
            cached = await pages.get(product_id)
        except DomainError:  # not found, dependency down: the route answers with the error envelope
            await self.app(scope, receive, send)
            return
        etag = cached.etag.encode()
        headers = [(b"etag", etag), (b"cache-control", CACHE_CONTROL)]
        if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), cached.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(cached.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": cached.body})
