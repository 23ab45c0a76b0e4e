"""This node in the cluster: join the node registry and prepare per-node consumers on start, beat while
running, leave on a clean stop (see bazaar.db.nodes)."""

from __future__ import annotations

import logging

from bazaar.bootstrap import Container
from bazaar.db import nodes

log = logging.getLogger("bazaar.workers.node")


async def join_cluster(container: Container) -> None:
    """Before any worker runs: the per-node consumer groups must exist before the node's copies catch up
    from the database, or events published in between would reach neither."""
    try:
        async with container.uow() as uow:
            previous = await nodes.join(uow, node_id=container.node_id)
        log.info("node %s joined (%s)", container.node_id, "first run" if previous is None else f"last seen {previous}")
    except Exception:  # the heartbeat worker joins when the database is back
        log.exception("node %s could not register; retrying with the heartbeat", container.node_id)
    try:
        await container.events.join()
    except Exception:  # groups are then created as the consumers find the streams (from their start)
        log.exception("node %s could not prepare its consumer groups", container.node_id)


async def heartbeat(container: Container) -> int:
    async with container.uow() as uow:
        await nodes.beat(uow, node_id=container.node_id)
    return 0


async def leave_cluster(container: Container) -> None:
    try:
        async with container.uow() as uow:
            await nodes.leave(uow, node_id=container.node_id)
    except Exception:  # the node is then taken for gone once its heartbeat is old
        log.warning("node %s could not record its departure", container.node_id, exc_info=True)
