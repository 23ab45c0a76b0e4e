"""The node registry: every running node's heartbeat, so cluster-wide work knows which nodes are alive.

A node is one `bazaar serve` (or `bazaar worker`) with its own data dir and node id. Its worker
beats every `BAZAAR_NODE_HEARTBEAT_SECONDS`; a node silent for `BAZAAR_NODE_DEAD_AFTER_SECONDS` is
gone: its per-node consumer groups stop holding back stream trimming and outbox settlement, and
when it comes back it catches up from the database (see docs/ARCHITECTURE.md, "the cluster").
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bazaar.db.base import Base, UTCDateTime, created_column
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow


class ClusterNode(Base):
    __tablename__ = "cluster_nodes"

    node_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(nullable=False)
    started_at: Mapped[datetime] = created_column()  # this run of the node
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # a clean stop


async def join(uow: UnitOfWork, *, node_id: str) -> datetime | None:
    """Record that the node runs (again); answers its previous heartbeat, None for a node never seen."""
    now = utcnow()
    node = await uow.session.get(ClusterNode, node_id, with_for_update=uow.is_postgres)
    previous = None if node is None else node.heartbeat_at
    host = socket.gethostname()[:255]
    if node is None:
        uow.session.add(ClusterNode(node_id=node_id, host=host, pid=os.getpid(), started_at=now, heartbeat_at=now))
    else:
        node.host, node.pid, node.started_at, node.heartbeat_at, node.left_at = host, os.getpid(), now, now, None
    try:
        await uow.commit()
    except IntegrityError:  # a second process of the same node joined at the same moment
        await uow.rollback()
    return previous


async def beat(uow: UnitOfWork, *, node_id: str) -> None:
    result = await uow.session.execute(
        update(ClusterNode).where(ClusterNode.node_id == node_id).values(heartbeat_at=utcnow(), left_at=None)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        await uow.rollback()
        await join(uow, node_id=node_id)
        return
    await uow.commit()


async def leave(uow: UnitOfWork, *, node_id: str) -> None:
    """A clean stop: the node no longer counts as alive (its heartbeat would say so only later)."""
    await uow.session.execute(update(ClusterNode).where(ClusterNode.node_id == node_id).values(left_at=utcnow()))
    await uow.commit()


async def live_nodes(uow: UnitOfWork, *, dead_after: timedelta) -> set[str]:
    query = select(ClusterNode.node_id).where(
        ClusterNode.heartbeat_at >= utcnow() - dead_after, ClusterNode.left_at.is_(None)
    )
    return set((await uow.session.execute(query)).scalars())


async def all_nodes(uow: UnitOfWork) -> list[ClusterNode]:
    return list((await uow.session.execute(select(ClusterNode).order_by(ClusterNode.node_id))).scalars())


class LiveNodes:
    """Which nodes are alive, asked of the registry at most once per `refresh_seconds`."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        *,
        node_id: str,
        dead_after: timedelta,
        refresh_seconds: float = 2.0,
    ) -> None:
        self._uow = uow_factory
        self.node_id = node_id
        self.dead_after = dead_after
        self.refresh_seconds = refresh_seconds
        self._known: set[str] = set()
        self._next = 0.0

    async def __call__(self) -> set[str]:
        if time.monotonic() >= self._next:
            async with self._uow() as uow:
                self._known = await live_nodes(uow, dead_after=self.dead_after)
            self._next = time.monotonic() + self.refresh_seconds
        return self._known | {self.node_id}  # this node is alive while it asks, registered or not yet
