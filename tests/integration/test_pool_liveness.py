"""Pooled PostgreSQL connections: no liveness round trip per unit of work, yet a connection that died while idle
(a database restart, an idle-session kill) is replaced before anyone uses it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from bazaar.bootstrap import Container

pytestmark = pytest.mark.usefixtures("pg_only")


@pytest.fixture
def settings(settings_factory: Any) -> Any:
    return settings_factory(db_ping_after_idle_seconds=0.3)


def _count_pings(container: Container, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    dialect = container.db.engine.sync_engine.dialect
    pings = [0]
    real = dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return bool(real(dbapi_connection))

    monkeypatch.setattr(dialect, "do_ping", counting)
    return pings


async def _backend_pid(container: Container) -> int:
    async with container.uow() as uow:
        return int((await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_units_of_work_in_a_row_do_not_ping(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _count_pings(container, monkeypatch)
    for _ in range(20):
        await _backend_pid(container)
    assert pings[0] == 0  # pool_pre_ping would have made 20 round trips (and 20 transactions)


async def test_a_connection_killed_while_idle_is_replaced_before_use(
    container: Container, monkeypatch: pytest.MonkeyPatch, pg_database: str
) -> None:
    pings = _count_pings(container, monkeypatch)
    pid = await _backend_pid(container)
    admin = await asyncpg.connect(pg_database)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.5)  # idle past db_ping_after_idle_seconds
    assert await _backend_pid(container) != pid  # no error: the dead connection was pinged and replaced
    assert pings[0] == 1


async def test_a_web_process_opens_its_first_connections_before_its_first_request(container: Container) -> None:
    from bazaar.web.app import create_app

    app = create_app(container=container)
    pools = [container.db.engine.sync_engine.pool, container.db.read_engine.sync_engine.pool]
    assert pools[1].checkedin() == 0  # type: ignore[attr-defined]  # (the write pool truncated the tables)
    async with app.router.lifespan_context(app):
        # Two of each pool (db_warm_connections), open and idle, before anything was asked.
        assert [p.checkedin() for p in pools] == [2, 2]  # type: ignore[attr-defined]
        started = asyncio.get_running_loop().time()
        await _backend_pid(container)
        assert asyncio.get_running_loop().time() - started < 5
        assert pools[0].checkedin() == 2  # type: ignore[attr-defined]  # used one of them, made none


async def test_a_process_starting_while_the_database_is_unreachable_still_starts(settings_factory: Any) -> None:
    from bazaar.bootstrap import build_container
    from bazaar.web.app import create_app

    nowhere = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1
    container = build_container(settings_factory().model_copy(update={"database_url": nowhere}))
    try:
        app = create_app(container=container)
        async with asyncio.timeout(30), app.router.lifespan_context(app):
            assert container.db.engine.sync_engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    finally:
        await container.close()
