"""A lean ASGI fast path for the flash-sale write: `POST /api/v1/reservations` with a plain, valid body.

During a rush FastAPI's body parsing, validation and dependency resolution cost more CPU than
the hold itself. Requests whose body is exactly `{"offer_id": "...", "quantity": n}` with a
bearer token are answered here with the same services, in the route's order (sold-out flag,
then the caller, then the hold) and with the same status codes and error envelope. Anything
else (another body shape, invalid values, a session cookie instead of a token) is replayed to
the documented route, which gives the validation errors.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.accounts import service as accounts
from bazaar.flash_sales import guard as flash_guard
from bazaar.inventory import service as inventory
from bazaar.inventory.hot import hold_units
from bazaar.inventory.stock import MAX_UNITS
from bazaar.kernel.errors import DomainError
from bazaar.web.errors import domain_error_response

MAX_BODY = 4096
ROUTE = "/reservations"


class HoldFastPath:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.path = prefix + ROUTE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        container = getattr(scope["app"].state, "container", None)
        body, complete = await _read_body(receive)
        wanted = _plain_hold(body) if complete else None
        token = _bearer(scope)
        if wanted is None or token is None or container is None:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        scope["bazaar.route"] = self.path
        offer_id, quantity = wanted
        try:
            await inventory.refuse_if_sold_out(sold_out=container.sold_out, offer_id=offer_id, quantity=quantity)
            principal = await accounts.authenticate_token(
                sessions=container.sessions, read_uow=container.read_uow, token=token
            )
            await flash_guard.refuse_plain_hold(calendar=container.flash_calendar, offer_id=offer_id)
            held = await hold_units(
                hot=container.hot_reservations,
                uow_factory=container.uow,
                offer_id=offer_id,
                quantity=quantity,
                user_id=principal.user_id,
                ttl=container.hold_durations.ttl([offer_id]),
                sold_out=container.sold_out,
                limits=container.hold_limits,
                limiter=container.limiter,
            )
        except DomainError as exc:
            await domain_error_response(exc)(scope, receive, send)
            return
        await _send_json(send, 201, held.model_dump_json().encode())


def _plain_hold(body: bytes) -> tuple[str, int] | None:
    """(offer_id, quantity) when the body is exactly what the route accepts without coercion; else None."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.keys() != {"offer_id", "quantity"}:
        return None
    offer_id, quantity = data["offer_id"], data["quantity"]
    if not isinstance(offer_id, str) or not 1 <= len(offer_id) <= 32:
        return None
    if type(quantity) is not int or not 1 <= quantity <= MAX_UNITS:
        return None
    return offer_id, quantity


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body, and whether it is all there (a longer one is left for the route, which reads the rest)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts), False
        chunk = message.get("body", b"")
        parts.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(parts), True
        if size > MAX_BODY:
            return b"".join(parts), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A receive() that hands the route what was already read, then the rest of the request."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
