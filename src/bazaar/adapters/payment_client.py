"""PaymentGateway over HTTP (httpx): per-attempt timeout, retries with backoff and jitter under one key, a deadline.

The same client talks to the in-process sandbox (httpx.ASGITransport, no network) or to a provider URL.
Retried: timeouts, connection errors and 5xx — always with the same idempotency key, so a retry can never
act twice. Not retried: any 4xx, which is the provider's definitive answer. When the deadline passes, the
caller learns whether the provider may have acted (PaymentOutcomeUnknown: some attempt timed out after
being sent) or surely did not (ProviderUnavailable).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any
from urllib.parse import quote

import httpx

from bazaar.kernel.money import Money
from bazaar.kernel.payments import (
    CardDetails,
    Operation,
    PaymentOutcomeUnknown,
    ProviderKeyReused,
    ProviderProtocolError,
    ProviderResult,
    ProviderStatus,
    ProviderUnavailable,
)
from bazaar.kernel.waiting import waiting_elsewhere
from bazaar.settings import Settings

log = logging.getLogger("bazaar.payments.client")

# Answers that are the provider's word on the request, parsed into a ProviderResult.
DEFINITIVE = {200, 201, 402, 404, 409, 422}
# A gateway timeout means the request may have reached the provider and been carried out.
MAYBE_ACTED_STATUSES = {504}
MIN_ATTEMPT_SECONDS = 0.25


class HttpPaymentGateway:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        call_timeout: float = 2.0,
        deadline: float = 8.0,
        backoff_base: float = 0.1,
        backoff_max: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self.call_timeout = call_timeout
        self.deadline = deadline
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._rng = rng or random.Random()

    @classmethod
    def from_settings(cls, settings: Settings, *, sandbox_app: Any | None = None) -> HttpPaymentGateway:
        """Point at BAZAAR_PAYMENT_PROVIDER_URL, or at the given in-process sandbox app."""
        timeout = httpx.Timeout(settings.payment_call_timeout_seconds)
        if settings.payment_provider_url:
            client = httpx.AsyncClient(base_url=settings.payment_provider_url.rstrip("/"), timeout=timeout)
        elif sandbox_app is not None:
            transport = httpx.ASGITransport(app=sandbox_app)
            client = httpx.AsyncClient(transport=transport, base_url="http://sandbox-payments", timeout=timeout)
        else:
            raise ValueError("either BAZAAR_PAYMENT_PROVIDER_URL or an in-process sandbox app is needed")
        return cls(
            client,
            call_timeout=settings.payment_call_timeout_seconds,
            deadline=settings.payment_deadline_seconds,
            backoff_base=settings.payment_retry_base_seconds,
            backoff_max=settings.payment_retry_max_seconds,
        )

    # -- the PaymentGateway port ------------------------------------------------------------------

    async def authorize(
        self, *, idempotency_key: str, amount: Money, card: CardDetails, deadline: float | None = None
    ) -> ProviderResult:
        body = {"amount": amount.as_dict(), "card": card.as_dict()}
        response = await self._send("POST", "/v1/authorizations", idempotency_key, body, deadline)
        return self._result(response, idempotency_key)

    async def capture(
        self, *, idempotency_key: str, provider_payment_id: str, amount: Money, deadline: float | None = None
    ) -> ProviderResult:
        path = f"/v1/payments/{quote(provider_payment_id, safe='')}/capture"
        response = await self._send("POST", path, idempotency_key, {"amount": amount.as_dict()}, deadline)
        return self._result(response, idempotency_key)

    async def void(
        self, *, idempotency_key: str, provider_payment_id: str, deadline: float | None = None
    ) -> ProviderResult:
        path = f"/v1/payments/{quote(provider_payment_id, safe='')}/void"
        response = await self._send("POST", path, idempotency_key, {}, deadline)
        return self._result(response, idempotency_key)

    async def refund(
        self, *, idempotency_key: str, provider_payment_id: str, amount: Money, deadline: float | None = None
    ) -> ProviderResult:
        path = f"/v1/payments/{quote(provider_payment_id, safe='')}/refunds"
        response = await self._send("POST", path, idempotency_key, {"amount": amount.as_dict()}, deadline)
        return self._result(response, idempotency_key)

    async def transfer(
        self, *, idempotency_key: str, destination: str, amount: Money, deadline: float | None = None
    ) -> ProviderResult:
        body = {"amount": amount.as_dict(), "destination": destination}
        response = await self._send("POST", "/v1/transfers", idempotency_key, body, deadline)
        return self._result(response, idempotency_key)

    async def submit_dispute_evidence(
        self, *, idempotency_key: str, provider_dispute_id: str, text: str, deadline: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        path = f"/v1/disputes/{quote(provider_dispute_id, safe='')}/evidence"
        response = await self._send("POST", path, idempotency_key, {"text": text}, deadline)
        if response.status_code not in DEFINITIVE:
            raise ProviderProtocolError(f"unexpected evidence answer {response.status_code}: {response.text[:200]}")
        return response.status_code, self._json(response)

    async def lookup(self, *, idempotency_key: str, deadline: float | None = None) -> ProviderResult | None:
        path = f"/v1/idempotency/{quote(idempotency_key, safe='')}"
        response = await self._send("GET", path, idempotency_key, None, deadline)
        if response.status_code == 404:
            return None
        payload = self._json(response)
        if response.status_code != 200 or not isinstance(payload.get("answer"), dict):
            raise ProviderProtocolError(f"unexpected lookup answer {response.status_code}: {response.text[:200]}")
        return _parse_answer(payload["answer"], idempotency_key)

    async def close(self) -> None:
        await self._client.aclose()

    # -- transport: one request, retried until definitive or out of time --------------------------

    async def _send(
        self, method: str, path: str, key: str, body: dict[str, Any] | None, deadline: float | None
    ) -> httpx.Response:
        # Waiting on the provider, a web request gives up its admission slot to a request that has work to do.
        async with waiting_elsewhere():
            return await self._send_waiting(method, path, key, body, deadline)

    async def _send_waiting(
        self, method: str, path: str, key: str, body: dict[str, Any] | None, deadline: float | None
    ) -> httpx.Response:
        acts = method != "GET"
        budget = self.deadline if deadline is None else deadline
        give_up_at = time.monotonic() + budget
        maybe_acted = False
        attempt = 0
        last_problem = "no attempt was made"
        while True:
            remaining = give_up_at - time.monotonic()
            if remaining <= 0:
                break
            attempt += 1
            try:
                # asyncio.timeout also bounds the in-process transport, which httpx's own timeouts do not.
                async with asyncio.timeout(min(self.call_timeout, remaining)):
                    response = await self._client.request(
                        method, path, json=body, headers={"Idempotency-Key": key} if acts else None
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last_problem = f"cannot connect: {exc!r}"  # nothing was sent
            except (TimeoutError, httpx.TimeoutException, httpx.TransportError) as exc:
                maybe_acted = maybe_acted or acts
                last_problem = f"no answer: {exc!r}"
            else:
                if response.status_code < 500:
                    return response
                maybe_acted = maybe_acted or (acts and response.status_code in MAYBE_ACTED_STATUSES)
                last_problem = f"provider answered {response.status_code}"
            pause = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
            pause = self._rng.uniform(pause / 2, pause)
            log.warning(
                "payment provider call failed; retrying with the same key",
                extra={"path": path, "idempotency_key": key, "attempt": attempt, "problem": last_problem},
            )
            # An attempt squeezed into the last few milliseconds would mostly time out, and a timeout
            # after sending turns "surely not done" into "maybe done": leave it out.
            if time.monotonic() + pause + min(self.call_timeout, MIN_ATTEMPT_SECONDS) >= give_up_at:
                break
            await asyncio.sleep(pause)
        if maybe_acted:
            raise PaymentOutcomeUnknown(idempotency_key=key, attempts=attempt, last_problem=last_problem)
        raise ProviderUnavailable(idempotency_key=key, attempts=attempt, last_problem=last_problem)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError as exc:
            raise ProviderProtocolError(f"provider answered {response.status_code} without JSON") from exc
        if not isinstance(payload, dict):
            raise ProviderProtocolError(f"provider answered {response.status_code} with {type(payload).__name__}")
        return payload

    def _result(self, response: httpx.Response, key: str) -> ProviderResult:
        payload = self._json(response)
        error = payload.get("error") or {}
        if response.status_code == 409 and error.get("code") == "idempotency_key_reused":
            raise ProviderKeyReused(idempotency_key=key)
        if response.status_code not in DEFINITIVE or "operation" not in payload:
            raise ProviderProtocolError(f"unexpected provider answer {response.status_code}: {response.text[:200]}")
        return _parse_answer(payload, key)


def _parse_answer(payload: dict[str, Any], key: str) -> ProviderResult:
    try:
        error = payload.get("error") or {}
        money = payload["amount"]
        return ProviderResult(
            operation=Operation(payload["operation"]),
            status=ProviderStatus(payload["status"]),
            idempotency_key=payload.get("idempotency_key") or key,
            amount=Money(int(money["amount"]), str(money["currency"])),
            provider_payment_id=payload.get("payment_id"),
            reference=payload.get("reference"),
            payment_status=payload.get("payment_status"),
            error_code=error.get("code"),
            message=error.get("message"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderProtocolError(f"cannot read the provider's answer: {payload!r:.200}") from exc
