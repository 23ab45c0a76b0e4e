"""The web layer's first checks on every request: a body size limit, and no control characters anywhere.

Before any route (or fast path) runs: a body over the limit answers 413 (`Content-Length` is believed only
when it says too much; the body is counted as it arrives), and a path, query string, JSON or form body with
NUL or another control character in it answers 422 `invalid_characters` (kernel.text decides which
characters). Nothing is changed by a refused request. Pages get an HTML error page, everything else the
API's error envelope.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.kernel.text import body_has_control, has_control
from bazaar.web.errors import envelope, wants_page

_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if has_control(scope["path"]) or body_has_control(unquote_to_bytes(scope.get("query_string", b""))):
            await _refuse(scope, receive, send, 422, "invalid_characters", "the address holds a control character")
            return
        if scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        limit = self.max_upload if kind == b"multipart/form-data" else self.max_body
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(scope, receive, send, limit)
            return
        body, ended = bytearray(), False
        while not ended:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            ended = not message.get("more_body", False)
            if len(body) > limit:
                await _too_large(scope, receive, send, limit)
                return
        data = bytes(body)
        checked = unquote_to_bytes(data.replace(b"+", b" ")) if kind == b"application/x-www-form-urlencoded" else data
        if kind != b"multipart/form-data" and data and body_has_control(checked):
            await _refuse(scope, receive, send, 422, "invalid_characters", "a text field holds a control character")
            return
        await self.app(scope, _replay(data, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect when the client goes away

    return replay


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    message = f"the request body is larger than {limit} bytes"
    await _refuse(scope, receive, send, 413, "payload_too_large", message, max_bytes=limit)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str, **details: int
) -> None:
    request = Request(scope, receive)
    page_error = getattr(scope["app"].state, "page_error", None)
    response: Response
    if page_error is not None and wants_page(request):
        response = await page_error(request, status, message)
    else:
        response = JSONResponse(envelope(code, message, dict(details)), status_code=status)
    response.headers["Connection"] = "close"  # what is left of the body is not read
    await response(scope, receive, send)


class SecurityHeaders:
    """Headers every answer carries: `nosniff` (JSON and static files too, not only pages), and HSTS when
    BAZAAR_HSTS_SECONDS is set (behind TLS)."""

    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 0) -> None:
        self.app = app
        self.extra = [(b"x-content-type-options", b"nosniff")]
        if hsts_seconds > 0:
            self.extra.append((b"strict-transport-security", b"max-age=%d; includeSubDomains" % hsts_seconds))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.extra if h[0] not in have)]
            await send(message)

        await self.app(scope, receive, with_headers)
