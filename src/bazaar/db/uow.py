"""UnitOfWork: the one place that commits; `emit()` writes events to the outbox in the same transaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.db.outbox import OutboxEvent
from bazaar.kernel.events import Event
from bazaar.kernel.ids import new_id

AfterCommit = Callable[[], Awaitable[None]]
log = logging.getLogger("bazaar.db")


def _name(callback: AfterCommit) -> str:
    return getattr(callback, "__qualname__", repr(callback))


class UnitOfWork:
    """Use as `async with container.uow() as uow: ...; await uow.commit()`; leaving without commit rolls back."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        on_events_committed: Callable[[], None] | None = None,
        dialect: str = "sqlite",
    ) -> None:
        self._sessionmaker = sessionmaker
        self._on_events_committed = on_events_committed
        self._after_commit: list[AfterCommit] = []
        self._emitted = 0
        self.dialect = dialect
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessionmaker()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # close() rolls back whatever was not committed and detaches objects without expiring them,
        # so what a use case read stays readable after its unit of work ends.
        await self.session.close()

    def emit(self, event: Event) -> str:
        """Record an event in the outbox; it is published only if this unit of work commits."""
        event_id = new_id()
        self.session.add(OutboxEvent(event_id=event_id, topic=event.topic, key=event.key(), payload=event.payload()))
        self._emitted += 1
        return event_id

    def after_commit(self, callback: AfterCommit) -> None:
        """Run a side effect (cache flag, wake-up) only once the transaction is durable."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: if the block raises, its changes and the after-commit callbacks it
        registered are dropped, and the rest of the unit of work carries on."""
        registered = len(self._after_commit)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._after_commit[registered:]
            raise

    async def commit(self) -> None:
        await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            # The write is durable now: a failing side effect (a cache that is down) is logged, never
            # reported to the caller as if the write had not happened (a retry would repeat it).
            try:
                await callback()
            except Exception:
                log.warning("after-commit step %s failed; the commit stands", _name(callback), exc_info=True)
        if self._emitted and self._on_events_committed is not None:
            self._on_events_committed()
        self._emitted = 0

    async def rollback(self) -> None:
        await self.session.rollback()
        self._after_commit.clear()
        self._emitted = 0

    async def flush(self) -> None:
        await self.session.flush()

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def info(self) -> dict[str, Any]:
        return {"dialect": self.dialect}
