"""A lean ASGI fast path for the two hottest reads: product pages and search, answered as cached bytes.

FastAPI's routing, parameter parsing and dependency resolution cost about ten times what
serving cached bytes does, so the common, unambiguous requests are answered here, before
the router. Anything else (other methods and paths, odd or invalid parameters, unknown
products, errors) goes on to the app, whose documented routes give the same answers on their
own and produce the error envelopes; both use the same services, so bytes and ETags agree.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from bazaar.catalog.page_cache import PAGE_TTL_SECONDS, ProductPages
from bazaar.kernel.caching import CachedBytes, etag_matches
from bazaar.kernel.errors import DomainError
from bazaar.search.schemas import SearchParams
from bazaar.search.service import SearchService
from bazaar.web.views import remember_view_by_token

PAGE_CACHE_CONTROL = f"public, max-age={int(PAGE_TTL_SECONDS)}".encode()
SEARCH_CACHE_CONTROL = b"public, max-age=2"
_SEARCH_SCALARS = ("q", "category", "price_min", "price_max", "rating_min", "in_stock", "sort", "page", "per_page")
_SEARCH_ALL = {*_SEARCH_SCALARS, "brand", "facet_size"}


def search_params(query_string: bytes) -> SearchParams | None:
    """The parameters when they are plainly valid; None sends the request to the documented route."""
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    if not values.keys() <= _SEARCH_ALL:
        return None
    fields: dict[str, Any] = {}
    for name, got in values.items():
        if name == "brand":
            if not all(got):
                return None
            fields["brand"] = tuple(got)
        elif len(got) != 1 or (got[0] == "" and name != "q"):
            return None
        else:
            fields[name] = got[0]
    try:
        return SearchParams(**fields)
    except ValidationError:
        return None


class ReadFastPath:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.products = prefix + "/products/"
        self.search = prefix + "/search"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cached: CachedBytes | None = None
        cache_control = b""
        viewed: str | None = None
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            extras = getattr(scope["app"].state, "container", None)
            extras = extras.extras if extras is not None else {}
            try:
                if path.startswith(self.products) and "product_pages" in extras:
                    product_id = path[len(self.products) :]
                    if product_id and "/" not in product_id:
                        scope["bazaar.route"] = self.products + "{product_id}"
                        pages: ProductPages = extras["product_pages"]
                        cached, cache_control = await pages.get(product_id), PAGE_CACHE_CONTROL
                        viewed = product_id
                elif path == self.search and "search" in extras:
                    params = search_params(scope["query_string"])
                    if params is not None:
                        scope["bazaar.route"] = self.search
                        service: SearchService = extras["search"]
                        cached, cache_control = await service.search_json(params), SEARCH_CACHE_CONTROL
            except DomainError:  # not found, invalid, dependency down: the route answers with the error envelope
                cached = None
        if cached is None:
            await self.app(scope, receive, send)
            return
        await _send_cached(scope, send, cached, cache_control)
        token = _credentials(scope) if viewed is not None else None
        if token is not None and viewed is not None:  # a logged-in buyer's view, after the answer went out
            await remember_view_by_token(scope["app"].state.container, token, viewed)


def _credentials(scope: Scope) -> str | None:
    """The bearer token or session cookie of the request, if it has one (the common anonymous read has none)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"cookie" and b"bazaar_session=" in value:
            for part in value.decode("latin-1").split(";"):
                key, _, token = part.strip().partition("=")
                if key == "bazaar_session" and token:
                    return token
    return None


async def _send_cached(scope: Scope, send: Send, cached: CachedBytes, cache_control: bytes) -> None:
    headers = [(b"etag", cached.etag.encode()), (b"cache-control", cache_control)]
    if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
    if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), cached.etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(cached.body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": cached.body})
