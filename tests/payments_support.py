"""Test support for payments: a sandbox provider reached in-process or over real HTTP, and faulty transports."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bazaar.adapters.payment_client import HttpPaymentGateway
from bazaar.adapters.sandbox_payments import Ledger, SandboxConfig, create_sandbox_app
from bazaar.kernel.money import Money
from bazaar.kernel.payments import CardDetails

APPROVES = "4242424242424242"
DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
SERVER_ERROR = "4000000000000119"
TIMEOUT_AFTER_AUTHORIZING = "4000000000000259"


def card(number: str = APPROVES, *, exp_month: int = 12, exp_year: int = 2099, cvc: str = "123") -> CardDetails:
    return CardDetails(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)


def usd(amount: int) -> Money:
    return Money(amount, "USD")


@dataclass
class Recorder:
    """Every request the client sent, as (method, path, idempotency key)."""

    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> None:
        self.requests.append((request.method, request.url.path, request.headers.get("idempotency-key")))


class FaultyTransport(httpx.AsyncBaseTransport):
    """Wraps a real transport: answers 503 for the first `fail_first` requests without forwarding them,
    or forwards the first `lose_first` requests and then drops their answers (a lost response)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, fail_first: int = 0, lose_first: int = 0) -> None:
        self.inner = inner
        self.fail_first = fail_first
        self.lose_first = lose_first

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fail_first > 0:
            self.fail_first -= 1
            return httpx.Response(503, json={"error": {"code": "overloaded", "message": "try later"}})
        response = await self.inner.handle_async_request(request)
        if self.lose_first > 0:
            self.lose_first -= 1
            await response.aread()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Sandbox:
    """A running sandbox provider and how to reach it."""

    ledger: Ledger
    base_url: str
    inner_transport: Callable[[], httpx.AsyncBaseTransport]

    def gateway(
        self,
        *,
        wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
        recorder: Recorder | None = None,
        call_timeout: float = 2.0,  # generous: only the timeout tests want short ones, and the machine is shared
        deadline: float = 5.0,
    ) -> HttpPaymentGateway:
        transport = self.inner_transport()
        if wrap is not None:
            transport = wrap(transport)
        hooks: dict[str, list[Any]] = {"request": [recorder]} if recorder else {}
        client = httpx.AsyncClient(
            transport=transport, base_url=self.base_url, timeout=httpx.Timeout(call_timeout), event_hooks=hooks
        )
        return HttpPaymentGateway(
            client, call_timeout=call_timeout, deadline=deadline, backoff_base=0.02, backoff_max=0.2
        )


def in_process_sandbox(directory: Path, *, latency_ms: int = 0) -> Sandbox:
    app = create_sandbox_app(
        SandboxConfig(database=directory / "sandbox-payments.sqlite3", latency_ms=latency_ms, hang_seconds=5)
    )
    return Sandbox(app.state.ledger, "http://sandbox", lambda: httpx.ASGITransport(app=app))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_in_thread(directory: Path, *, latency_ms: int = 0) -> Iterator[Sandbox]:
    """The sandbox behind a real uvicorn server on a loopback port, for the HTTP column of the contract tests."""
    app = create_sandbox_app(
        SandboxConfig(database=directory / "sandbox-payments.sqlite3", latency_ms=latency_ms, hang_seconds=3)
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    try:
        yield Sandbox(app.state.ledger, f"http://127.0.0.1:{port}", httpx.AsyncHTTPTransport)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
