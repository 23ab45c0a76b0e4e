"""UnitOfWork: the one place that commits; `emit()` writes events to the outbox in the same transaction."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import Table, bindparam, insert, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from bazaar.db import driver
from bazaar.db.outbox import OutboxEvent
from bazaar.kernel.errors import DatabaseBusy
from bazaar.kernel.events import Event
from bazaar.kernel.ids import new_id

AfterCommit = Callable[[], Awaitable[None]]
_OUTBOX = cast(Table, OutboxEvent.__table__)
_OUTBOX_INSERT = insert(_OUTBOX)
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
_ALIVE = text("SELECT 1")
_INSERTS: dict[Table, Any] = {}


def _insert_into(table: Table) -> Any:
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table)
    return statement


T = TypeVar("T")
log = logging.getLogger("bazaar.db")

# PostgreSQL broke the transaction up so others could go on: running it again is the expected answer.
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
CONFLICT_ATTEMPTS = 4
conflicts_retried = 0  # process-wide counts, exported at /metrics
conflicts_given_up = 0


class StaleRead(Exception):
    """What the transaction read without a lock moved before it took the lock, so what it decided on that read
    no longer holds: `UnitOfWork.run` runs it again (it reads afresh), as it does a transaction PostgreSQL broke
    up. Raised only inside work given to `run`."""


def is_transient_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure, however the driver and SQLAlchemy wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)) in RETRIED_SQLSTATES:
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def _changes(
    rows: list[tuple[Table, dict[str, Any]]], updates: list[tuple[Table, dict[str, Any]]]
) -> dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]]:
    """The changes `update` recorded, one per row (a row changed twice changed once, to the last values), grouped by
    table and columns changed; a change of a row `insert` recorded is made to the row to insert instead."""
    if not updates:
        return {}
    changed: dict[tuple[Table, tuple[Any, ...]], dict[str, Any]] = {}
    for table, row in updates:
        identity = tuple(row[column.key] for column in table.primary_key.columns)
        changed.setdefault((table, identity), {}).update(row)
    for table, row in rows:
        identity = tuple(row.get(column.key) for column in table.primary_key.columns)
        change = changed.pop((table, identity), None)
        if change is not None:
            row.update(change)
    keys = {table: {column.key for column in table.primary_key.columns} for table, _ in changed}
    groups: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
    for (table, _identity), row in changed.items():
        groups.setdefault((table, tuple(sorted(k for k in row if k not in keys[table]))), []).append(row)
    return groups


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
        route: Callable[[], Awaitable[async_sessionmaker[AsyncSession]]] | None = None,
        reads_only: bool = False,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._route = route  # picks the sessionmaker when the unit of work starts (read replicas)
        self._on_events_committed = on_events_committed
        self._reads_only = reads_only  # its SELECTs need no transaction (see `_driver`)
        self._after_commit: list[AfterCommit] = []
        self._events: list[dict[str, Any]] = []  # the outbox rows `emit` recorded, written by `commit`
        self._rows: list[tuple[Table, dict[str, Any]]] = []  # the rows `insert` recorded, written by `commit`
        self._updates: list[tuple[Table, dict[str, Any]]] = []  # the changes `update` recorded, written by `commit`
        self.dialect = dialect
        self.session: AsyncSession
        self._connection: Any = None  # the asyncpg connection of this transaction, once `fetch` found it
        self._alone: Any = None  # the asyncpg connection `fetch_alone` ran statements on, outside a transaction

    async def __aenter__(self) -> UnitOfWork:
        if self._route is not None:
            self._sessionmaker = await self._route()
        self.session = self._sessionmaker()
        self._connection = self._alone = None
        self._events.clear()
        self._rows.clear()
        self._updates.clear()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # close() rolls back whatever was not committed and detaches objects without expiring them,
        # so what a use case read stays readable after its unit of work ends.
        self._connection = self._alone = None
        await self.session.close()

    def emit(self, event: Event) -> str:
        """Record an event in the outbox; it is published only if this unit of work commits.

        The rows are written by `commit`, just before the transaction commits, in one statement (the outbox
        references no other table, so no other row has to go first): through the ORM each was an object to
        track and flush, with its id read back."""
        event_id = new_id()
        row = {"event_id": event_id, "topic": event.topic, "key": event.key(), "payload": event.payload()}
        self._events.append(row)
        return event_id

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """Write a row with the commit, after the rows the session's objects make (so a row may reference them),
        in one statement per table for all this unit of work's rows of it (tables in the order first named: a
        row referencing another of these tables names that table after it). Not readable before the commit:
        for rows nothing in their transaction reads back, which the ORM would otherwise track and flush."""
        self._rows.append((table, row))

    def update(self, table: Table, row: dict[str, Any]) -> None:
        """Change a row with the commit: `row` holds its primary key's columns and the new values of the columns it
        changes; a column with an `onupdate` not among them is added to `row` with that value, as the ORM's flush
        gives it (so the caller can keep its object as the row will be). Written in the commit's one statement with
        the rows `insert` recorded, one part per table and set of columns; a row changed twice is changed once, to
        the last values; a change of a row `insert` recorded goes into the insert. A change recorded in a savepoint's
        block waits for the commit too (a failing block drops it), so the order of changes holds across blocks.

        Not readable before the commit, and unconditional (no row matching is no error): for a row the transaction
        holds (locked, or inserted in it) and nothing in it reads back, which the ORM would otherwise flush with an
        UPDATE of its own (the caller keeps its object as the row will be, `set_committed_value`, so the session has
        nothing to flush; such an object is not expired by a savepoint's rollback, as a changed one would be)."""
        keys = {column.key for column in table.primary_key.columns}
        if not row.keys() - keys:
            raise ValueError("a change names at least one column besides the primary key")
        for column in table.c:
            if column.onupdate is not None and column.key not in row:
                row[column.key] = driver.python_default(column.onupdate)
        self._updates.append((table, row))

    async def insert_now(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Write these rows now, in one statement (after the session's pending objects, which they may reference):
        for rows something later in the transaction reads, which `insert` would write only at the commit."""
        if rows:
            await self._flush_pending()
            await self._insert_rows(table, rows)

    def synced(self, model: type[Any], row: Any) -> Any:
        """`row` (as a statement run with `fetch` answered it, the model's primary key among its columns), with
        the session's copy of that row, if it holds one, set to its values: what the session reads next agrees
        with what the statement wrote."""
        values = row._mapping
        identity = tuple(values[column.key] for column in sa_inspect(model).primary_key)
        held = self.session.identity_map.get(self.session.identity_key(model, identity))
        if held is not None:
            for key, value in values.items():
                set_committed_value(held, key, value)
        return row

    def after_commit(self, callback: AfterCommit) -> None:
        """Run a side effect (cache flag, wake-up) only once the transaction is durable."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: if the block raises, its changes and the after-commit callbacks it
        registered are dropped, and the rest of the unit of work carries on."""
        registered, emitted, rows = len(self._after_commit), len(self._events), len(self._rows)
        updates = len(self._updates)
        try:
            async with self.session.begin_nested():
                yield
                # What the block recorded is written inside it (as the ORM flushes its objects when a savepoint
                # is released): a row that fails fails this block alone, not the transaction's commit.
                # Its changes wait for the commit (`update`): one written here could reach a row before the insert
                # the transaction recorded for it, or be overtaken by an earlier change written at the commit.
                block_rows, block_events = self._rows[rows:], self._events[emitted:]
                del self._rows[rows:], self._events[emitted:]
                await self._write(block_rows, block_events, [])
        except BaseException:
            del self._after_commit[registered:]
            del self._events[emitted:]
            del self._rows[rows:]
            del self._updates[updates:]
            raise

    async def commit(self) -> None:
        events, self._events = self._events, []
        rows, self._rows = self._rows, []
        updates, self._updates = self._updates, []
        await self._write(rows, events, updates)
        self._connection = None  # the commit hands the connection back to the pool
        if not self._nothing_begun():
            self._alone = None  # (so does this)
            await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            # The write is durable now: a failing side effect (a cache that is down) is logged, never
            # reported to the caller as if the write had not happened (a retry would repeat it).
            try:
                await callback()
            except Exception:
                log.warning("after-commit step %s failed; the commit stands", _name(callback), exc_info=True)
        if events and self._on_events_committed is not None:
            self._on_events_committed()

    async def _write(
        self,
        rows: list[tuple[Table, dict[str, Any]]],
        events: list[dict[str, Any]],
        updates: list[tuple[Table, dict[str, Any]]],
    ) -> None:
        if rows or updates:
            await self.session.flush()  # the session's objects first: these rows may reference them
        changes = _changes(rows, updates)
        # One group per table and set of columns given, the tables in the order first named, the outbox after them
        # and the changes last: where they go one statement each (SQLite), a table referenced by another of them is
        # written first if named first, and a changed row may name a row inserted with it.
        by_table: dict[Table, dict[tuple[str, ...], list[dict[str, Any]]]] = {}
        for table, row in rows:
            by_table.setdefault(table, {}).setdefault(tuple(sorted(row)), []).append(row)
        if events:
            by_table.setdefault(_OUTBOX, {}).setdefault(tuple(sorted(events[0])), []).extend(events)
        groups: dict[driver.Group, list[dict[str, Any]]] = {
            (driver.INSERT, table, keys): table_rows
            for table, sets in by_table.items()
            for keys, table_rows in sets.items()
        }
        for (table, keys), changed in changes.items():
            groups[(driver.UPDATE, table, keys)] = changed
        if groups and self.dialect == "postgresql" and (len(groups) > 1 or changes):
            if await self._driver() is None:  # nothing began the transaction: the session's first statement does
                first = next(iter(groups))
                await self._write_group(first, groups.pop(first))
            if groups and (len(groups) > 1 or changes) and await self._write_together(groups):
                return
        for group, group_rows in groups.items():
            await self._write_group(group, group_rows)

    async def _write_group(self, group: driver.Group, rows: list[dict[str, Any]]) -> None:
        kind, table, keys = group
        if kind == driver.INSERT:
            await self._insert_rows(table, rows)
            return
        # SQLite, or no transaction begun yet: through the session, one UPDATE by primary key run for each row.
        primary_key = [column.key for column in table.primary_key.columns]
        statement = (
            update(table)
            .where(*(table.c[name] == bindparam(f"key_{name}") for name in primary_key))
            .values({name: bindparam(name) for name in keys})
        )
        parameters = [{**{n: row[n] for n in keys}, **{f"key_{n}": row[n] for n in primary_key}} for row in rows]
        await self.session.execute(statement, parameters)

    def _nothing_begun(self) -> bool:
        """Only statements run alone (`fetch_alone`, each committed as it ran) and no transaction begun since: the
        commit has nothing to commit, and SQLAlchemy's would only go through its motions (the unit of work's end
        hands the connection back)."""
        session = self.session
        return (
            self._alone is not None
            and not self._alone.is_in_transaction()
            and not (session.new or session.dirty or session.deleted)
        )

    async def _write_together(self, groups: dict[driver.Group, list[dict[str, Any]]]) -> bool:
        """Rows of several tables (and the rows changed) in one statement, on PostgreSQL (`driver.writes_for`): one
        round trip where a table each was one each. False, nothing written, where that cannot be done."""
        connection = await self._driver()
        together = driver.writes_for(tuple(groups)) if connection is not None else None
        if together is None:
            return False
        try:
            await driver.write_together(connection, together, list(groups.values()))
        except _DRIVER_ERRORS as exc:
            raise await self._driver_failed(exc, connection, together.sql, None) from exc
        return True

    async def _insert_rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        connection = await self._driver()
        compiled = driver.insert_for(table, tuple(rows[0])) if connection is not None else None
        if compiled is None or any(row.keys() != rows[0].keys() for row in rows):
            statement = _OUTBOX_INSERT if table is _OUTBOX else _insert_into(table)
            await self.session.execute(statement, rows)
            return
        try:
            await driver.insert_rows(connection, table, compiled, rows)
        except _DRIVER_ERRORS as exc:
            raise await self._driver_failed(exc, connection, compiled.sql, rows) from exc

    async def fetch(self, statement: driver.Prepared, params: dict[str, Any] | None = None) -> Any:
        """Run a statement built once: on PostgreSQL on the transaction's driver connection (db/driver.py), else
        through the session; either way its result has SQLAlchemy's `first`, `scalar`, `all`, … and rows with
        attribute access."""
        compiled = statement.compiled if self.dialect == "postgresql" else None
        connection = await self._driver(reading=self._reads_only and compiled is not None and compiled.reads)
        if compiled is None:  # SQLite: flushed first as on PostgreSQL, whatever kind of statement it is
            await self._flush_pending()
        if connection is None or compiled is None:
            return await self.session.execute(
                statement.statement if self.dialect != "postgresql" else statement.postgresql, params
            )
        try:
            return await driver.run(connection, compiled, params or {})
        except _DRIVER_ERRORS as exc:
            raise await self._driver_failed(exc, connection, compiled.sql, params) from exc

    async def fetch_rows(
        self, rows: Sequence[Mapping[str, Any]], *, each: driver.Prepared, together: driver.Prepared
    ) -> None:
        """Write rows with a statement that takes one row (`each`, run once per row) or, on PostgreSQL and for more
        than one row, with its form that takes them all as one array per column (`together`, built with
        `driver.insert_from_arrays` from the same columns): one round trip for any number of rows."""
        if self.dialect == "postgresql" and len(rows) > 1:
            await self.fetch(together, driver.arrays_of(rows, rows[0].keys()))
            return
        for row in rows:
            await self.fetch(each, dict(row))

    async def fetch_alone(self, statement: driver.Prepared, params: dict[str, Any] | None = None) -> Any:
        """PostgreSQL, before this unit of work has begun a transaction: run the statement on its own, outside any
        transaction (a write is committed when it answers), and answer its result as `fetch` does; no BEGIN and no
        COMMIT, two of a lone write's three round trips. None, nothing run, where it cannot be run so (SQLite, or a
        transaction already begun): the caller then does its work in the unit of work's transaction.

        For work that is whole in one statement, or that reads with one and then writes with one that checks the
        read still holds (a version compared in its WHERE), doing the work again under a lock when it does not."""
        if self.dialect != "postgresql" or self._reads_only:  # (a unit of work for reads writes nothing)
            return None
        connection = await self._driver(reading=True)
        if connection is None or connection.is_in_transaction():
            return None
        self._alone = connection
        compiled = statement.compiled
        try:
            return await driver.run(connection, compiled, params or {})
        except _DRIVER_ERRORS as exc:
            raise await self._driver_failed(exc, connection, compiled.sql, params) from exc

    async def _driver(self, *, reading: bool = False) -> Any:
        """The asyncpg connection of this unit of work's transaction, or None where the session must run the
        statement: SQLite; no transaction begun yet (the session's first statement begins it), or none active
        (a failed flush rolled it back: the session then says so). ORM changes not yet written are flushed first,
        as the session's autoflush would before running the statement.

        `reading`: a SELECT in a unit of work for reads only, which needs no transaction begun: it runs on its
        own (autocommit) until something begins one. Under PostgreSQL's READ COMMITTED every statement reads its
        own snapshot even inside a transaction, so it reads the same; what it saves is the BEGIN and the ROLLBACK,
        two of a lone read's three round trips (a bearer token not in the session cache, a cache fill)."""
        if self.dialect != "postgresql":
            return None
        session = self.session
        await self._flush_pending()
        # (the ORM's own transaction: the async session's would wrap it in a proxy object on every statement)
        transaction = session.sync_session.get_transaction()
        if transaction is not None and not transaction.is_active:
            self._connection = None
            return None
        if transaction is None:
            self._connection = None  # whatever was cached went back to the pool with its transaction
            if not reading:
                return None
        connection = self._connection
        if connection is None:
            connection = (await (await session.connection()).get_raw_connection()).driver_connection
        if connection is None or not (reading or connection.is_in_transaction()):
            self._connection = None
            return None
        self._connection = connection
        return connection

    async def _flush_pending(self) -> None:
        """Pending ORM changes written first where the session autoflushes, for any statement `fetch` runs (the
        session's own autoflush covers ORM statements only)."""
        session = self.session
        if session.autoflush and (session.new or session.dirty or session.deleted):
            await session.flush()

    async def _driver_failed(self, exc: BaseException, connection: Any, sql: str, params: Any) -> DBAPIError:
        gone = driver.lost(exc, connection)
        translated = driver.translated(exc, sql, params, connection_lost=gone)
        self._connection = None
        if gone:
            # SQLAlchemy finds the connection dead itself, through a statement of its own: it then invalidates it
            # and marks the rest of the pool stale (a database that restarted dropped them all), as it does when a
            # statement of its own finds it so. Should that statement get through, the connection is dropped here.
            try:
                await self.session.execute(_ALIVE)
                await (await self.session.connection()).invalidate(exc if isinstance(exc, Exception) else None)
            except Exception:  # found dead (and handled) or the session gave up: the unit of work's end cleans up
                log.debug("a lost connection handed to SQLAlchemy", exc_info=True)
        return translated

    async def run(self, work: Callable[[], Awaitable[T]], *, attempts: int = CONFLICT_ATTEMPTS) -> T:
        """Run `work` (a use case that commits) in this unit of work; when PostgreSQL breaks its transaction up
        (deadlock, serialization failure), or `work` raises StaleRead, roll back and run it again, up to `attempts`
        times in all, then raise DatabaseBusy (503 with Retry-After). `work` must be safe to run again after a
        rollback."""
        global conflicts_retried, conflicts_given_up
        for attempt in range(1, attempts + 1):
            try:
                return await work()
            except (DBAPIError, StaleRead) as exc:
                if isinstance(exc, DBAPIError) and not is_transient_conflict(exc):
                    raise
                await self.rollback()
                if attempt == attempts:
                    conflicts_given_up += 1
                    raise DatabaseBusy("the database is busy; try again in a moment") from exc
                conflicts_retried += 1
                cause = type(exc.orig) if isinstance(exc, DBAPIError) else type(exc)
                log.info("transaction broken up (%s); attempt %d again", cause, attempt + 1)
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    async def rollback(self) -> None:
        self._connection = self._alone = None
        await self.session.rollback()
        self._after_commit.clear()
        self._events.clear()
        self._rows.clear()
        self._updates.clear()

    async def flush(self) -> None:
        await self.session.flush()

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def info(self) -> dict[str, Any]:
        return {"dialect": self.dialect}
