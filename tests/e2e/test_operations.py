"""Operations endpoints, the OpenAPI document, request ids and the 500 envelope."""

from __future__ import annotations

import httpx

from tests.helpers import API


async def test_health_ready_metrics(client: httpx.AsyncClient, settings, container) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    # The node's search replica has not caught up with the database yet (its indexer never ran): not ready.
    behind = await client.get("/readyz")
    assert behind.status_code == 503
    assert behind.json()["checks"]["search"].startswith("down")
    await container.extras["search_indexer"].run_once()  # the indexer starts and catches up
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    if settings.redis_url:
        assert checks["redis"] == "ok"
    await client.get(f"{API}/me")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'bazaar_http_requests_total{method="GET",route="/api/v1/me",status="401"}' in metrics.text
    assert "bazaar_http_request_duration_seconds_bucket" in metrics.text


async def test_openapi_lists_the_contract_paths(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/me", "/api/v1/sellers"):
        assert path in spec["paths"], path


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 26


async def test_unexpected_error_is_a_500_envelope_with_request_id(app, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom)
    r = await client.get("/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["details"]["request_id"] == r.headers["x-request-id"]
    assert "kaboom" not in r.text


async def test_readyz_reports_a_dead_database(settings_factory) -> None:  # type: ignore[no-untyped-def]
    from bazaar.bootstrap import build_container
    from bazaar.web.app import create_app

    container = build_container(settings_factory())
    await container.db.dispose()
    dead = __import__("sqlalchemy.ext.asyncio", fromlist=["create_async_engine"]).create_async_engine(
        "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    )
    container.db.engine = container.db.read_engine = dead  # /readyz reads through the read engine
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(container=container)), base_url="http://t"
        ) as client:
            r = await client.get("/readyz")
            assert r.status_code == 503
            assert r.json()["checks"]["database"].startswith("down")
    finally:
        await container.close()


async def test_home_page_renders(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert "Bazaar" in r.text
    assert r.headers["content-type"].startswith("text/html")


async def test_metrics_scraped_again_and_again_and_with_the_event_stream_down(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, container, monkeypatch, caplog
) -> None:
    """Every scrape answers the whole set, the admission figures included, and logs no error; a stream that
    cannot be read leaves its own gauges out, not the rest (the admission gauges used to be made by the
    stream's reading, again at each scrape: a duplicate the second time, missing if the first failed)."""

    async def down() -> None:
        raise ConnectionError("the stream is down")

    monkeypatch.setattr(container.events, "stats", down)
    first = await client.get("/metrics")
    assert first.status_code == 200
    assert "bazaar_write_admission" in first.text and "bazaar_db_transient_conflicts" in first.text
    assert "bazaar_cart_adds_relocked" in first.text and "bazaar_event_loop_lag_seconds_bucket" in first.text
    assert 'bazaar_write_admission{lane="checkout",outcome="widened"}' in first.text
    monkeypatch.undo()
    caplog.clear()
    for _ in range(3):
        again = await client.get("/metrics")
        assert again.status_code == 200 and "bazaar_write_admission" in again.text
    assert not [r for r in caplog.records if "metrics unavailable" in r.getMessage()]
