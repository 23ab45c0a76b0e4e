"""The sandbox payment provider's HTTP API (Starlette): what the payment client talks to, in-process or over TCP.

POST /v1/authorizations, POST /v1/payments/{id}/capture | /void | /refunds, POST /v1/transfers (payouts; each
needs an `Idempotency-Key` header), GET /v1/payments/{id}, GET /v1/idempotency/{key} (what happened to a call
made under that key), GET /healthz. Answers to operations share one shape — operation, status, payment_id,
reference, amount, payment_status, error — with 201/200 approved, 402 declined, 422 invalid card, 409 refused,
404 unknown payment. Disputes: POST /sandbox/payments/{id}/disputes `{amount, reason}` and
POST /sandbox/disputes/{id}/resolve `{outcome: won|lost}` play the card network; POST /v1/disputes/{id}/evidence
is the marketplace's answer; each change is sent as a signed webhook (see disputes.py).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bazaar.adapters.sandbox_payments import disputes, transfers
from bazaar.adapters.sandbox_payments.ledger import BadRequest, Ledger, Reply
from bazaar.settings import Settings

MAX_KEY_LENGTH = 255
WEBHOOK_PATH = "/api/v1/webhooks/payments"


@dataclass(frozen=True)
class SandboxConfig:
    database: Path
    latency_ms: int = 0  # added to every request, to look like a provider across the internet
    hang_seconds: float = 30.0  # how long the "times out after authorizing" card holds its answer back
    webhook_secret: str = ""  # signs the dispute webhooks (the marketplace's BAZAAR_PAYMENT_WEBHOOK_SECRET)
    webhook_url: str | None = None  # where they go; unset: the app set as `state.webhook_target` (in-process)

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxConfig:
        return cls(
            database=settings.payment_sandbox_path,
            latency_ms=settings.payment_sandbox_latency_ms,
            hang_seconds=settings.payment_sandbox_hang_seconds,
            webhook_secret=settings.payment_webhook_secret,
            webhook_url=settings.payment_sandbox_webhook_url,
        )


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_sandbox_app(config: SandboxConfig) -> Starlette:
    ledger = Ledger(config.database)

    async def latency() -> None:
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)

    async def operate(request: Request, operation: Callable[[str, dict[str, Any]], Reply]) -> Response:
        await latency()
        key = request.headers.get("idempotency-key", "")
        if not key or len(key) > MAX_KEY_LENGTH:
            return _error(400, "idempotency_key_required", "send an Idempotency-Key header (1-255 characters)")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, "bad_request", "the body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "bad_request", "the body must be a JSON object")
        try:
            # The ledger's transaction runs in a thread; a cancelled caller waits for it rather than
            # abandoning it half-way, so the books never hold half a request.
            reply = await anyio.to_thread.run_sync(functools.partial(operation, key, body))
        except BadRequest as exc:
            return _error(400, "bad_request", str(exc))
        if reply.answer_lost:
            # The authorization is committed; the answer is held back until the caller has given up.
            await asyncio.sleep(config.hang_seconds)
        return JSONResponse(reply.body, status_code=reply.status_code)

    async def authorize(request: Request) -> Response:
        return await operate(request, ledger.authorize)

    async def capture(request: Request) -> Response:
        return await operate(request, functools.partial(_on_payment, ledger.capture, request))

    async def void(request: Request) -> Response:
        return await operate(request, functools.partial(_on_payment, ledger.void, request))

    async def refund(request: Request) -> Response:
        return await operate(request, functools.partial(_on_payment, ledger.refund, request))

    async def transfer(request: Request) -> Response:
        return await operate(request, functools.partial(transfers.transfer, ledger))

    async def deliver_webhooks() -> int:
        """Send every undelivered webhook event, signed; answers how many were accepted (2xx)."""
        target = app.state.webhook_target
        if config.webhook_url:
            client = httpx.AsyncClient(timeout=5)
        elif target is not None:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=target), base_url="http://bazaar", timeout=5)
        else:
            return 0
        delivered = 0
        async with client:
            for event_id, body in await anyio.to_thread.run_sync(disputes.undelivered, ledger):
                headers = {disputes.SIGNATURE_HEADER: disputes.sign(config.webhook_secret, body),
                           "Content-Type": "application/json"}  # fmt: skip
                try:
                    answer = await client.post(config.webhook_url or WEBHOOK_PATH, content=body, headers=headers)
                    ok = 200 <= answer.status_code < 300
                except httpx.HTTPError:
                    ok = False
                await anyio.to_thread.run_sync(disputes.mark_attempt, ledger, event_id, ok)
                delivered += ok
        return delivered

    async def dispute_call(request: Request, operation: Callable[[dict[str, Any]], Reply]) -> Response:
        await latency()
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            reply = await anyio.to_thread.run_sync(operation, body)
        except (ValueError, BadRequest) as exc:
            return _error(400, "bad_request", str(exc))
        if reply.status_code < 300:
            await deliver_webhooks()
        return JSONResponse(reply.body, status_code=reply.status_code)

    async def open_dispute(request: Request) -> Response:
        pid = request.path_params["payment_id"]
        return await dispute_call(request, functools.partial(disputes.open_dispute, ledger, pid))

    async def resolve_dispute(request: Request) -> Response:
        did = request.path_params["dispute_id"]
        return await dispute_call(request, functools.partial(disputes.resolve_dispute, ledger, did))

    async def evidence(request: Request) -> Response:
        did = request.path_params["dispute_id"]
        response = await operate(request, lambda key, body: disputes.submit_evidence(ledger, key, did, body))
        if response.status_code < 300:
            await deliver_webhooks()
        return response

    async def redeliver(request: Request) -> Response:
        return JSONResponse({"delivered": await deliver_webhooks()})

    async def show_payment(request: Request) -> Response:
        await latency()
        payment = await anyio.to_thread.run_sync(ledger.payment, request.path_params["payment_id"])
        if payment is None:
            return _error(404, "payment_not_found", "no such payment")
        return JSONResponse(payment)

    async def lookup(request: Request) -> Response:
        await latency()
        key = request.path_params["key"]
        reply = await anyio.to_thread.run_sync(ledger.stored, key)
        if reply is None:
            return _error(404, "unknown_idempotency_key", "no request with this key was carried out")
        return JSONResponse({"idempotency_key": key, "status_code": reply.status_code, "answer": reply.body})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/v1/authorizations", authorize, methods=["POST"]),
            Route("/v1/payments/{payment_id}/capture", capture, methods=["POST"]),
            Route("/v1/payments/{payment_id}/void", void, methods=["POST"]),
            Route("/v1/payments/{payment_id}/refunds", refund, methods=["POST"]),
            Route("/v1/payments/{payment_id}", show_payment, methods=["GET"]),
            Route("/v1/transfers", transfer, methods=["POST"]),
            Route("/v1/disputes/{dispute_id}/evidence", evidence, methods=["POST"]),
            Route("/sandbox/payments/{payment_id}/disputes", open_dispute, methods=["POST"]),
            Route("/sandbox/disputes/{dispute_id}/resolve", resolve_dispute, methods=["POST"]),
            Route("/sandbox/webhooks/redeliver", redeliver, methods=["POST"]),
            Route("/v1/idempotency/{key:path}", lookup, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    app.state.ledger = ledger
    app.state.webhook_target = None  # the marketplace's ASGI app, when it runs the sandbox in-process
    app.state.deliver_webhooks = deliver_webhooks
    return app


def _on_payment(
    operation: Callable[[str, str, dict[str, Any]], Reply], request: Request, key: str, body: dict[str, Any]
) -> Reply:
    return operation(key, request.path_params["payment_id"], body)
