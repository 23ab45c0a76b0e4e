"""The sandbox provider as the app deploys it: mounted at a private path only when enabled and only with a
secret, never in production, and as its own `bazaar` process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from bazaar.adapters.payment_client import HttpPaymentGateway
from bazaar.bootstrap import Container
from bazaar.settings import Settings
from tests.helpers import API, new_user
from tests.payments_support import card, free_port, usd

SANDBOX = "/_sandbox/payments"
SECRET = "sandbox-secret-for-tests-0123456789"
SECRET_HEADER = {"X-Sandbox-Secret": SECRET}
AUTH_BODY = {
    "amount": {"amount": 1500, "currency": "USD"},
    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"},
}


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(payment_sandbox_public=True, payment_sandbox_secret=SECRET)  # type: ignore[no-any-return]


@pytest.fixture
async def client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.headers.update(SECRET_HEADER)
    return client


async def test_mounted_sandbox_is_the_one_the_payment_client_uses(
    client: httpx.AsyncClient, container: Container
) -> None:
    r = await client.post(f"{SANDBOX}/v1/authorizations", json=AUTH_BODY, headers={"Idempotency-Key": "e2e-1"})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "approved" and r.json()["payment_status"] == "authorized"
    seen = await container.payments.lookup(idempotency_key="e2e-1")
    assert seen is not None and seen.provider_payment_id == r.json()["payment_id"]
    shown = await client.get(f"{SANDBOX}/v1/payments/{r.json()['payment_id']}")
    assert shown.json()["authorized"] == 1500 and shown.json()["operations"][0]["kind"] == "authorize"


async def test_sandbox_is_private_and_refuses_malformed_requests(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not any(path.startswith("/_sandbox") for path in paths)
    no_key = await client.post(f"{SANDBOX}/v1/authorizations", json=AUTH_BODY)
    assert no_key.status_code == 400 and no_key.json()["error"]["code"] == "idempotency_key_required"
    bad_json = await client.post(f"{SANDBOX}/v1/authorizations", content=b"{nope", headers={"Idempotency-Key": "e2e-2"})
    assert bad_json.status_code == 400
    bad_amount = await client.post(
        f"{SANDBOX}/v1/authorizations",
        json={**AUTH_BODY, "amount": {"amount": 12.5, "currency": "USD"}},
        headers={"Idempotency-Key": "e2e-3"},
    )
    assert bad_amount.status_code == 400 and "minor units" in bad_amount.json()["error"]["message"]


async def test_bazaar_sandbox_payments_runs_as_its_own_process(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "BAZAAR_DATA_DIR": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bazaar.cli", "sandbox-payments", "--host", "127.0.0.1", "--port", str(port),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as probe:
            for _ in range(200):
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"the sandbox did not start; exit code {proc.returncode}")
        gateway = HttpPaymentGateway.from_settings(Settings(payment_provider_url=url, data_dir=tmp_path))
        result = await gateway.authorize(idempotency_key="proc-1", amount=usd(4200), card=card())
        assert result.approved and result.payment_status == "authorized"
        assert await gateway.lookup(idempotency_key="proc-1") == result
        await gateway.close()
        assert (tmp_path / "sandbox-payments.sqlite3").exists()  # its own state, in its own file
    finally:
        if proc.returncode is None:
            proc.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert await asyncio.wait_for(proc.wait(), timeout=10) in (0, -signal.SIGTERM)


def test_a_provider_url_replaces_the_in_process_sandbox(tmp_path: Path) -> None:
    from bazaar.bootstrap import build_payment_gateway
    from bazaar.web.app import create_app

    settings = Settings(data_dir=tmp_path, payment_provider_url="http://127.0.0.1:9", log_level="WARNING")
    gateway, sandbox = build_payment_gateway(settings)
    assert isinstance(gateway, HttpPaymentGateway) and sandbox is None
    assert not (tmp_path / "sandbox-payments.sqlite3").exists()
    paths = {getattr(route, "path", "") for route in create_app(settings).routes}
    assert SANDBOX not in paths


def _mounted(settings: Settings) -> bool:
    from bazaar.web.app import create_app

    return SANDBOX in {getattr(route, "path", "") for route in create_app(settings).routes}


def test_the_sandbox_is_not_public_by_default_and_never_in_production(tmp_path: Path) -> None:
    base: dict[str, Any] = {"data_dir": tmp_path, "log_level": "WARNING"}
    assert not _mounted(Settings(**base))
    assert _mounted(Settings(**base, payment_sandbox_public=True, payment_sandbox_secret=SECRET))
    with pytest.raises(RuntimeError, match="SECRET"):  # enabled without a secret: refused
        Settings(**base, payment_sandbox_public=True).check_production_safety()
    production = Settings(
        **base, env="production", secret_key="x" * 32, payment_sandbox_public=True, payment_sandbox_secret=SECRET
    )
    with pytest.raises(RuntimeError, match="production"):
        production.check_production_safety()
    with pytest.raises(RuntimeError, match="production"):
        _mounted(production)


async def test_a_buyer_cannot_reach_the_sandbox_without_the_secret(client: httpx.AsyncClient) -> None:
    """A buyer who knows the path and their payment's idempotency key still cannot look it up or refund it."""
    _, buyer = await new_user(client)
    ok = await client.post(f"{SANDBOX}/v1/authorizations", json=AUTH_BODY, headers={"Idempotency-Key": "e2e-9"})
    assert ok.status_code == 201
    del client.headers["X-Sandbox-Secret"]
    payment = ok.json()["payment_id"]
    for method, path in (("GET", "/v1/idempotency/e2e-9"), ("GET", f"/v1/payments/{payment}"),
                         ("POST", f"/v1/payments/{payment}/refunds")):  # fmt: skip
        for extra in ({}, {"X-Sandbox-Secret": "wrong"}, {"X-Sandbox-Secret": SECRET[:-1]}):
            r = await client.request(method, SANDBOX + path, headers={**buyer, **extra, "Idempotency-Key": "r1"})
            assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated", r.text
    assert (await client.get(f"{API}/me", headers=buyer)).status_code == 200


async def test_the_default_app_answers_404_at_the_sandbox_path(tmp_path: Path) -> None:
    from bazaar.web.app import create_app

    app = create_app(Settings(data_dir=tmp_path, log_level="WARNING", embedded_workers=False))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get(f"{SANDBOX}/v1/idempotency/anything", headers=SECRET_HEADER)
    assert r.status_code == 404
