"""PostgreSQL read replicas against a real streaming replica (a private primary, pg_basebackup, a standby on
another port, all started and stopped here): lag-tolerant reads go to the replica, a client never misses its
own write, a lagging or stopped replica is left out."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from bazaar.bootstrap import Container, build_container
from bazaar.db.migrate import upgrade
from bazaar.db.replicas import ReplicaRouter
from bazaar.settings import Settings
from bazaar.web.app import create_app
from tests.conftest import BASE_SETTINGS, REQUIRE
from tests.helpers import API, new_seller
from tests.inventory_factories import make_offer
from tests.private_servers import POSTGRES_USER, PrivatePostgres

pytestmark = pytest.mark.skipif(
    shutil.which("pg_basebackup") is None and not REQUIRE, reason="PostgreSQL server binaries are not installed"
)


def _start_standby(primary: PrivatePostgres) -> PrivatePostgres:
    """A streaming replica of `primary`: a base backup with its recovery settings (-R), on a port of its own."""
    standby = PrivatePostgres()
    standby.directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        standby.directory.chmod(0o755)
        shutil.chown(standby.directory, POSTGRES_USER)
    standby._as_postgres(
        "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
        "-D", str(standby.data), "-R", "-X", "stream", "--no-sync",
    )  # fmt: skip
    options = (primary.directory / "options").read_text()
    options = options.replace(f"-p {primary.port}", f"-p {standby.port}").replace(
        f"-k {primary.directory}", f"-k {standby.directory}"
    )
    (standby.directory / "options").write_text(options)
    return standby.start()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    if shutil.which("pg_basebackup") is None:
        pytest.fail("pg_basebackup is required (BAZAAR_TEST_REQUIRE_SERVICES=1)")
    primary = PrivatePostgres().init().start()
    standby = None
    try:
        standby = _start_standby(primary)
        yield primary, standby
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()


@pytest.fixture
async def replicated(servers: tuple[PrivatePostgres, PrivatePostgres], tmp_path: Path) -> AsyncIterator[Container]:
    primary, standby = servers
    values: dict[str, Any] = {**BASE_SETTINGS, "data_dir": tmp_path / "data", "database_url": primary.url}
    values |= {"database_replica_urls": standby.url, "replica_check_seconds": 3600, "replica_sticky_seconds": 1.0}
    settings = Settings(**values)
    upgrade(settings)
    container = build_container(settings)
    try:
        yield container
    finally:
        await container.close()


async def _replica_fresh(router: ReplicaRouter, *, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while True:
        await router.check()
        if all(r.fresh for r in router.replicas):
            return
        assert time.monotonic() < deadline, [r.error for r in router.replicas]
        await asyncio.sleep(0.1)


async def _on_replica(standby: PrivatePostgres, statement: str) -> None:
    conn = await asyncpg.connect(standby.url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def test_lag_tolerant_reads_use_the_replica_and_a_writer_reads_its_own_writes(
    replicated: Container, servers: tuple[PrivatePostgres, PrivatePostgres]
) -> None:
    _, standby = servers
    router = replicated.db.replicas
    assert router is not None
    transport = httpx.ASGITransport(app=create_app(container=replicated), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        seller, headers = await new_seller(client)
        await asyncio.sleep(1.1)  # becoming a seller was a write: let its read-your-writes window pass
        await _replica_fresh(router)
        async with replicated.replica_uow() as uow:
            assert (await uow.session.execute(text("SELECT pg_is_in_recovery()"))).scalar() is True
        async with replicated.read_uow() as uow:
            assert (await uow.session.execute(text("SELECT pg_is_in_recovery()"))).scalar() is False

        await _on_replica(standby, "SELECT pg_wal_replay_pause()")  # the replica falls behind from here
        try:
            offer = await make_offer(replicated, quantity=5, seller_id=seller["id"])  # written on the primary
            # Someone else's change, read through the replica that has not replayed it: lag shows (allowed).
            listed = (await client.get(f"{API}/sellers/me/offers", headers=headers)).json()
            assert listed["total"] == 0, listed

            # The seller changes the offer: from now on the seller reads the primary, and sees the change.
            r = await client.patch(
                f"{API}/sellers/me/offers/{offer.id}",
                json={"price": {"amount": 1234, "currency": "USD"}},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            listed = (await client.get(f"{API}/sellers/me/offers", headers=headers)).json()
            assert [o["price"]["amount"] for o in listed["items"]] == [1234], listed

            # The next checks find the replica behind where the primary was at the check before: every
            # lag-tolerant read goes to the primary (a replica's lag shows for two check intervals at most).
            await router.check()
            await router.check()
            assert not router.replicas[0].fresh and router.replicas[0].error == "lagging"
            before = router.reads["primary"]
            page = await client.get(f"{API}/products/{offer.product_id}")
            assert page.status_code == 200 and page.json()["best_offer"]["price"]["amount"] == 1234, page.text
            assert router.reads["primary"] > before
        finally:
            await _on_replica(standby, "SELECT pg_wal_replay_resume()")
        await _replica_fresh(router)  # it catches up, and takes reads again
        await asyncio.sleep(1.1)  # past the seller's read-your-writes window
        before = router.reads["replica"]
        listed = (await client.get(f"{API}/sellers/me/offers", headers=headers)).json()
        assert [o["price"]["amount"] for o in listed["items"]] == [1234], listed
        assert router.reads["replica"] > before


async def test_a_stopped_replica_is_left_out(
    replicated: Container, servers: tuple[PrivatePostgres, PrivatePostgres]
) -> None:
    _, standby = servers
    router = replicated.db.replicas
    assert router is not None
    transport = httpx.ASGITransport(app=create_app(container=replicated), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        _, headers = await new_seller(client)
        await _replica_fresh(router)
        standby.stop()
        try:
            await router.check()
            assert not router.replicas[0].fresh
            r = await client.get(f"{API}/sellers/me/offers", headers=headers)
            assert r.status_code == 200, r.text
            r = await client.get(f"{API}/orders", headers=headers)
            assert r.status_code == 200, r.text
        finally:
            standby.start()
        await _replica_fresh(router)
