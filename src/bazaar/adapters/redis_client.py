"""One way to open Redis: a single server (`redis://host:port/db`) or a Redis Cluster
(`redis+cluster://host:port[,host:port...]`, any reachable nodes; the client learns the rest).

On a cluster every command goes to the shard owning its key's slot. Keys that a script or a transaction
touches together share a hash tag (`{...}`); the event streams are one key per partition, so partitions
spread over the shards. What cannot be atomic across shards (a stream's acknowledgements and the shared
dead-letter stream) is sent as a plain pipeline there (`is_cluster`): the inbox absorbs a repeat.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

AnyRedis = Redis | RedisCluster
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def cluster_nodes(url: str) -> list[ClusterNode]:
    """The startup nodes named by a `redis+cluster://h1:p1,h2:p2` URL."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    nodes = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":")
        nodes.append(ClusterNode(host or "127.0.0.1", int(port or 6379)))
    return nodes


def redis_client(
    url: str,
    *,
    decode_responses: bool = False,
    socket_timeout: float = 2,
    max_connections: int | None = None,
    pool_timeout: float = 2,
) -> Any:
    """A client for `url`; `max_connections` bounds the pool (a burst then waits `pool_timeout` for a connection)."""
    common: dict[str, Any] = {
        "decode_responses": decode_responses,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 2,
    }
    if is_cluster_url(url):
        parts = urlsplit(url)
        if parts.username or parts.password:
            common |= {"username": parts.username or None, "password": parts.password}
        if url.startswith("rediss+"):
            common["ssl"] = True
        return RedisCluster(startup_nodes=cluster_nodes(url), max_connections=max_connections or 100, **common)
    if max_connections is not None:
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=pool_timeout, **common)
        return Redis.from_pool(pool)
    return Redis.from_url(url, **common)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)
