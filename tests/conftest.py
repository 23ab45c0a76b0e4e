"""Test fixtures: every database test runs on SQLite (embedded column) and, when configured,
on PostgreSQL + Redis (production column).

BAZAAR_TEST_DATABASE_URL  a PostgreSQL URL; the database is dropped and recreated for the run
BAZAAR_TEST_REDIS_URL     a Redis URL; the PostgreSQL runs then use Redis for cache and limits
BAZAAR_TEST_REQUIRE_SERVICES=1  a missing service fails the run instead of skipping
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bazaar.bootstrap import Container, build_container
from bazaar.db.migrate import upgrade
from bazaar.db.registry import metadata
from bazaar.settings import Settings

PG_URL = os.environ.get("BAZAAR_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("BAZAAR_TEST_REDIS_URL")
REQUIRE = os.environ.get("BAZAAR_TEST_REQUIRE_SERVICES", "") in {"1", "true", "yes"}

BASE_SETTINGS: dict[str, Any] = {
    "password_hash_profile": "fast",
    "seed_products_on_first_start": 0,
    "embedded_workers": False,
    "access_log": False,
    "log_level": "WARNING",
}


def _missing(service: str, why: str) -> None:
    if REQUIRE:
        pytest.fail(f"{service} is required (BAZAAR_TEST_REQUIRE_SERVICES=1) but {why}")
    pytest.skip(f"{service} not available: {why}")


def _run(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even under a running loop."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def _recreate_pg_database(url: str) -> None:
    import asyncpg

    base, _, name = url.rpartition("/")
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://") + "/postgres", timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test would be slow)."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    upgrade(Settings(data_dir=directory, **BASE_SETTINGS))
    return directory / "bazaar.sqlite3"


@pytest.fixture(scope="session")
def pg_database() -> str | None:
    if not PG_URL:
        return None
    try:
        _run(_recreate_pg_database(Settings(database_url=PG_URL).resolved_database_url))
    except Exception as exc:  # reported by the tests that need it
        return f"error: {exc}"
    upgrade(Settings(database_url=PG_URL, **BASE_SETTINGS))
    return PG_URL


@pytest.fixture(scope="session")
def redis_available() -> bool:
    if not REDIS_URL:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


def make_settings(
    backend: str,
    tmp_path: Path,
    sqlite_template: Path,
    pg_database: str | None,
    redis_available: bool,
    **overrides: Any,
) -> Settings:
    values = {**BASE_SETTINGS, "data_dir": tmp_path / "data", **overrides}
    if backend == "sqlite":
        (tmp_path / "data").mkdir(parents=True, exist_ok=True)
        shutil.copy(sqlite_template, tmp_path / "data" / "bazaar.sqlite3")
        return Settings(**values)
    if pg_database is None:
        _missing("PostgreSQL", "BAZAAR_TEST_DATABASE_URL is not set")
    if pg_database.startswith("error:"):
        _missing("PostgreSQL", pg_database)
    if REDIS_URL and not redis_available:
        _missing("Redis", f"{REDIS_URL} does not answer")
    if REQUIRE and not REDIS_URL:
        _missing("Redis", "BAZAAR_TEST_REDIS_URL is not set")
    values["database_url"] = pg_database
    if redis_available:
        values["redis_url"] = REDIS_URL
        values["redis_prefix"] = f"test:{uuid.uuid4().hex[:12]}:"
    return Settings(**values)


async def truncate_all(container: Container) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    from sqlalchemy import text

    async with container.db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_factory(
    backend: str, tmp_path: Path, sqlite_template: Path, pg_database: str | None, redis_available: bool
) -> Any:
    def factory(**overrides: Any) -> Settings:
        return make_settings(backend, tmp_path, sqlite_template, pg_database, redis_available, **overrides)

    return factory


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory()  # type: ignore[no-any-return]


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    c = build_container(settings)
    if not settings.is_sqlite:
        await truncate_all(c)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def app(container: Container) -> Any:
    from bazaar.web.app import create_app

    return create_app(container=container)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def pg_only(backend: str) -> Iterator[None]:
    if backend != "postgres":
        pytest.skip("this test is about PostgreSQL concurrency")
    yield


@pytest.fixture
async def second_container(settings: Settings, pg_only: None) -> AsyncIterator[Container]:
    """Another process's (or node's) view: its own engine and connections, the same database and sandbox file."""
    other = build_container(settings)
    try:
        yield other
    finally:
        await other.close()
