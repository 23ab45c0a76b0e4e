"""Request ids, JSON logs, Prometheus metrics and the last-resort 500 handler, as one ASGI middleware."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import traceback
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.cart import service as cart_service
from bazaar.db import uow as uow_module
from bazaar.kernel.ids import request_id
from bazaar.kernel.ports import EventStreamStats
from bazaar.web.admission import Lane
from bazaar.web.errors import dependency_down, domain_error_response

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
log = logging.getLogger("bazaar.web")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            data["request_id"] = rid
        for key in ("method", "path", "status", "duration_ms", "route"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(data, default=str)


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bazaar_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "bazaar_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.event_pending = Gauge(
            "bazaar_event_consumer_pending",
            "Events delivered to a consumer group but not yet acknowledged (in flight or waiting to retry)",
            ["stream", "group"],
            registry=self.registry,
        )
        self.event_lag = Gauge(
            "bazaar_event_consumer_lag",
            "Events published to a stream that a consumer group has not read yet",
            ["stream", "group"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "bazaar_outbox_backlog", "Outbox events not yet published to the event stream", registry=self.registry
        )
        self.dead_letters = Gauge(
            "bazaar_event_dead_letters", "Events a consumer gave up on after its retries", registry=self.registry
        )
        self.mail_outbox = Gauge(
            "bazaar_mail_outbox",
            "Emails waiting to be sent (pending) and given up on (failed)",
            ["status"],
            registry=self.registry,
        )

        self.disputes = Gauge("bazaar_disputes", "Disputes (chargebacks) by status", ["status"], registry=self.registry)
        self.disputes_amount = Gauge(
            "bazaar_disputes_amount", "Disputed money by status, minor units", ["status"], registry=self.registry
        )
        self.payouts = Gauge("bazaar_payouts", "Payouts to sellers by status", ["status"], registry=self.registry)
        self.payouts_amount = Gauge(
            "bazaar_payouts_amount",
            "Money paid out to sellers by status, minor units",
            ["status"],
            registry=self.registry,
        )
        self.ledger_total = Gauge(
            "bazaar_ledger_total",
            "Sum of the ledger's entries by account (seller, commission, tax) and kind, minor units",
            ["account", "kind"],
            registry=self.registry,
        )
        self.admission = Gauge(
            "bazaar_write_admission",
            "Writes per admission lane since the process started: admitted, queued (admitted after waiting for a"
            " slot), refused (503 overloaded), widened (let in on a spare checkout slot, the process's event loop"
            " keeping time); in_flight now (may pass the checkout lane's setting while widened)",
            ["lane", "outcome"],
            registry=self.registry,
        )
        self.cart_adds_relocked = Gauge(
            "bazaar_cart_adds_relocked",
            "Cart adds (PostgreSQL) whose cart moved between their read and their write (a concurrent write to the same"
            " cart), done again under the cart's lock",
            registry=self.registry,
        )
        self.db_conflicts = Gauge(
            "bazaar_db_transient_conflicts",
            "Transactions PostgreSQL broke up (deadlock, serialization failure): retried, or given up (503)",
            ["outcome"],
            registry=self.registry,
        )

    def observe_marketplace(
        self, disputes: dict[str, tuple[int, int]], payouts: dict[str, tuple[int, int]], ledger: dict[str, int]
    ) -> None:
        for status, (n, amount) in disputes.items():
            self.disputes.labels(status).set(n)
            self.disputes_amount.labels(status).set(amount)
        for status, (n, amount) in payouts.items():
            self.payouts.labels(status).set(n)
            self.payouts_amount.labels(status).set(amount)
        self.ledger_total.clear()
        for key, total in ledger.items():
            account, kind = key.split(":", 1)
            self.ledger_total.labels(account, kind).set(total)

    def observe_events(self, stats: EventStreamStats) -> None:
        """Replace the event-stream gauges with a fresh reading (streams that vanished drop out)."""
        self.event_pending.clear()
        self.event_lag.clear()
        for c in stats.consumers:
            self.event_pending.labels(c.stream, c.group).set(c.pending)
            if c.lag is not None:
                self.event_lag.labels(c.stream, c.group).set(c.lag)
        self.outbox_backlog.set(stats.backlog)
        self.dead_letters.set(stats.dead_letters)

    def observe_admission(self, lanes: Iterable[Lane]) -> None:
        for lane in lanes:
            f = lane.figures
            for outcome, value in (("admitted", f.admitted), ("queued", f.queued), ("refused", f.refused),
                                   ("widened", f.widened), ("in_flight", lane.in_flight)):  # fmt: skip
                self.admission.labels(lane.name, outcome).set(value)
        self.db_conflicts.labels("retried").set(uow_module.conflicts_retried)
        self.db_conflicts.labels("given_up").set(uow_module.conflicts_given_up)
        self.cart_adds_relocked.set(cart_service.adds_relocked)

    def observe_mail(self, counts: dict[str, int]) -> None:
        for status, n in counts.items():
            self.mail_outbox.labels(status).set(n)


_ERROR_BODY = (
    b'{"error":{"code":"internal_error","message":"something went wrong on our side","details":{"request_id":"%s"}}}'
)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, *, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_request_id(scope) or request_id()
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            down = dependency_down(exc)  # raised outside the router (a fast path, a middleware)
            if down is not None and not response_started:
                log.warning("%s %s: %s (%s)", scope["method"], scope["path"], down.message, type(exc).__name__)
                await domain_error_response(down)(scope, receive, send_with_id)
                return
            log.exception("unhandled error", extra={"method": scope["method"], "path": scope["path"]})
            if not response_started:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json"), (b"x-request-id", rid.encode())],
                    }
                )
                await send({"type": "http.response.body", "body": _ERROR_BODY % rid.encode()})
            status = 500
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(elapsed)
            if status >= 500 or self.access_log:
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "route": route,
                    },
                )
            request_id_var.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")[:64]
            if candidate.replace("-", "").isalnum():
                return candidate
    return None


def _route_label(scope: Scope) -> str:
    """The path template (`/api/v1/products/{id}`), so metrics do not grow a series per id."""
    if "bazaar.route" in scope:  # answered by a fast path, before the router
        return str(scope["bazaar.route"])
    if scope.get("route") is None:
        return "unmatched"
    path: str = scope.get("path", "")
    for name, value in (scope.get("path_params") or {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path
