"""Bazaar on a real Redis Cluster: three private `redis-server --cluster-enabled yes` masters started here.
The cache, remembered sessions, rate limits, sold-out flags, active carts, the waiting room's keys and the
event streams all work, and the stream partitions are spread over the shards."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import func, select

from bazaar.adapters.sold_out import SOLD_OUT_SECONDS
from bazaar.bootstrap import SHARED, Container, build_container
from bazaar.db.outbox import InboxEntry
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.events import Event
from bazaar.web.app import create_app
from tests.conftest import REQUIRE, truncate_all
from tests.helpers import API, drain_events, new_user
from tests.inventory_factories import make_offer
from tests.private_servers import free_port, wait_for_port

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None and not REQUIRE, reason="redis-server missing")


@dataclass(frozen=True)
class ThingChanged(Event):
    topic: ClassVar[str] = "catalog.thing_changed.v1"
    key_field: ClassVar[str] = "thing_id"
    thing_id: str
    seq: int


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is a valid, free port too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 10000))
                return port
            except OSError:
                continue


class RedisClusterServers:
    """Three masters (no replicas), each a private redis-server keeping nothing on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = [_cluster_port() for _ in range(3)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:2])

    def start(self) -> RedisClusterServers:
        self.directory.mkdir(parents=True, exist_ok=True)
        for port in self.ports:
            args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
            args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
            args += ["--save", "", "--appendonly", "no", "--logfile", str(self.directory / f"redis-{port}.log")]
            self.processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            wait_for_port(port)
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        deadline = time.monotonic() + 30
        while True:
            states = [
                subprocess.run(["redis-cli", "-p", str(p), "cluster", "info"], capture_output=True, text=True).stdout
                for p in self.ports
            ]
            if all("cluster_state:ok" in s for s in states):
                return self
            assert time.monotonic() < deadline, states
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")).start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
async def on_cluster(settings_factory: Any, redis_cluster: RedisClusterServers) -> AsyncIterator[Container]:
    settings = settings_factory().model_copy(update={"redis_url": redis_cluster.url, "event_partitions": 6})
    container = build_container(settings)
    await truncate_all(container)
    try:
        yield container
    finally:
        await container.close()


async def test_cache_sessions_rate_limits_flags_and_carts_work_on_a_cluster(on_cluster: Container) -> None:
    cache = on_cluster.cache
    await cache.set("a", b"1", 30)
    await cache.set("b", b"2", 30)
    assert await cache.get("a") == b"1" and await cache.add("a", b"x", 30) is False
    await cache.delete("a", "b")  # keys on different shards, one call
    assert await cache.get("a") is None and await cache.get("b") is None
    assert [await cache.incr_window("limit:ip", 60) for _ in range(3)][-1][0] == 3

    flags = on_cluster.sold_out
    await flags.mark_sold_out("offer-1", 30)
    await flags.mark_sold_out("offer-2", 30)
    for _ in range(2):  # keys on different shards asked in one call, the client warm the second time
        await asyncio.sleep(SOLD_OUT_SECONDS + 0.02)  # what this process was told is asked again
        assert await flags.sold_out_of(["offer-1", "offer-2", "offer-3", "offer-4"]) == {"offer-1", "offer-2"}
    await flags.clear("offer-1", "offer-2")

    offer = await make_offer(on_cluster, quantity=3)
    transport = httpx.ASGITransport(app=create_app(container=on_cluster), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        _, headers = await new_user(client)
        for _ in range(2):  # the second answer comes from the remembered session and the cached page
            assert (await client.get(f"{API}/me", headers=headers)).status_code == 200
            assert (await client.get(f"{API}/products/{offer.product_id}")).status_code == 200
        r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 2}, headers=headers)
        assert r.status_code == 200, r.text
        cart = (await client.get(f"{API}/cart", headers=headers)).json()
        assert [i["quantity"] for i in cart["items"]] == [2]
        assert (await client.post(f"{API}/auth/logout", headers=headers)).status_code == 204
        assert (await client.get(f"{API}/me", headers=headers)).status_code == 401  # the session cache heard it
        assert await on_cluster.cache.ping()


async def test_event_streams_are_partitioned_over_the_shards_and_deliver_once(on_cluster: Container) -> None:
    seen: list[str] = []

    async def record(uow: UnitOfWork, event: dict[str, Any]) -> None:
        seen.append(event["event_id"])

    on_cluster.subscribe("cluster-test", ("catalog.",), record, scope=SHARED)
    async with on_cluster.uow() as uow:
        for i in range(40):  # many keys: every partition gets some
            uow.emit(ThingChanged(thing_id=f"thing-{i}", seq=i))
        await uow.commit()
    for _ in range(20):
        await drain_events(on_cluster)
        if len(set(seen)) >= 40:
            break
    async with on_cluster.uow() as uow:
        handled = await uow.session.scalar(
            select(func.count()).select_from(InboxEntry).where(InboxEntry.consumer == "cluster-test")
        )
    assert handled == len(seen) == len(set(seen)) == 40

    stream = on_cluster.events
    client = stream.client  # type: ignore[attr-defined]
    keys = [f"{stream.prefix}events:catalog:{p}" for p in range(stream.partitions)]  # type: ignore[attr-defined]
    shards = {client.get_node_from_key(k).port for k in keys if await client.exists(k)}
    assert len(shards) >= 2, shards  # the partitions live on more than one master
