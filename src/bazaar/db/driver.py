"""Statements run on PostgreSQL straight on the driver's connection, for the paths run thousands of times a second.

SQLAlchemy's execution path (compile-cache lookup, execution context, result object, the greenlet hop into and out
of the asyncpg adapter) costs about 100 µs of CPU per statement on top of asyncpg's own 50 µs (measured on the
project's machine with one prebuilt SELECT, `bench/checkout.py` has the end-to-end figures). A checkout runs about
30 statements on its request path, so that overhead was a fifth of the web process's CPU.

`Prepared` wraps a Core statement built once. On PostgreSQL `UnitOfWork.fetch` runs its SQL, compiled once for
asyncpg's dialect, on the asyncpg connection of the unit of work's transaction (asyncpg prepares and caches it per
connection), with SQLAlchemy's own bind processing of each parameter, and gives back `Rows` (the same `first`,
`scalar`, `all`, … as SQLAlchemy's result, rows with attribute access). Everything else stays SQLAlchemy's: the
transaction (begun by the unit of work's first statement through the session, committed or rolled back by it),
the pool, the connection's liveness; pending ORM changes are flushed first where the session autoflushes. A unit
of work for reads runs a plain SELECT without beginning a transaction (`UnitOfWork._driver`). On SQLite, or before
a writing unit of work's transaction has begun, the statement goes through the session: one behaviour, two ways
to run it.

Only statements whose results need no conversion by SQLAlchemy are accepted (strings, numbers, booleans, UTC
datetimes, which asyncpg hands back aware, and JSON, which the dialect's codec on the connection decodes): a
statement that would need one raises when first compiled, so a wrong value can never come back silently. Errors
are SQLAlchemy's classes as its asyncpg dialect picks them (`IntegrityError` for a constraint, `DBAPIError` for a
deadlock or serialization failure, with the driver's error and its SQLSTATE as `orig`), so callers and
`UnitOfWork.run` treat both ways alike. A connection lost under a statement on the driver is handed to SQLAlchemy
to find dead (a statement through the session), so that it invalidates the connection and marks the rest of the
pool stale, as it does when it finds one itself.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import ARRAY, Table, any_, bindparam, func, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as _AsyncpgDialect
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import JSON, BigInteger, Boolean, Float, Integer, SmallInteger, String, Text

from bazaar.db.base import UTCDateTime

_DIALECT = _AsyncpgDialect()
# Column types whose value asyncpg hands back as SQLAlchemy would (see the module's docstring).
_PLAIN_RESULTS = (String, Text, Integer, BigInteger, SmallInteger, Boolean, Float, UTCDateTime, JSON)

# Every statement sent this way, as (SQL, execution options): what `before_cursor_execute` listeners see of the
# statements SQLAlchemy sends (tests/integration/test_order_partition_key.py looks at both). Rows of several tables
# written by one statement (`write_together`) are shown as each table's INSERT (or UPDATE), one call each.
taps: list[Callable[[str, Mapping[str, Any]], None]] = []
_LOCKING = re.compile(r"\bFOR (UPDATE|SHARE|NO KEY UPDATE|KEY SHARE)\b")
_WRITING = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|nextval|setval|set_config|pg_advisory\w*)\b", re.IGNORECASE)
re_rows = re.compile(r"^\s*(SELECT|WITH)\b|\bRETURNING\b", re.IGNORECASE)


class _Compiled:
    __slots__ = ("sql", "names", "fixed", "processors", "returns_rows", "reads", "options")

    def __init__(self, statement: Any, *, column_keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=_DIALECT, column_keys=column_keys)
        self.sql: str = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise TypeError("a statement with expanding parameters is not run on the driver directly")
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        binds = compiled.binds
        # Columns whose value SQLAlchemy computes per execution (a Python-side default, an `onupdate`): not given,
        # they would be bound as None here; the caller must give them (`insert_rows` fills an insert's defaults).
        computed = {c.key for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
        # Values the statement carries itself (a literal in a WHERE, `.values(status="x")`).
        self.fixed: dict[str, Any] = {
            name: binds[name].effective_value
            for name in self.names
            if name in binds and not binds[name].required and name not in computed
        }
        # Each parameter's processing as SQLAlchemy's dialect does it (JSON serialised, an ARRAY's items).
        self.processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            binds[name].type.dialect_impl(_DIALECT).bind_processor(_DIALECT) if name in binds else None
            for name in self.names
        )
        self.options: Mapping[str, Any] = statement.get_execution_options()
        if isinstance(statement, TextClause):
            # Run with fetch, whose answer has no row count: a text statement must answer rows.
            if not re_rows.search(self.sql):
                raise TypeError("a text() statement run on the driver must be a SELECT or have RETURNING")
            self.returns_rows = True
            self.reads: bool = False
            return
        select_ = bool(getattr(statement, "is_select", False))
        # A SELECT that takes no row lock and writes nothing (no data-modifying WITH, no function with an effect
        # that lasts to the transaction's end): what a unit of work for reads may run without beginning one.
        self.reads = select_ and not _LOCKING.search(self.sql) and not _WRITING.search(self.sql)
        columns = statement.selected_columns if select_ else statement.exported_columns
        self.returns_rows = select_ or len(columns) > 0
        for column in columns:
            if not isinstance(column.type, _PLAIN_RESULTS):
                raise TypeError(f"a result column of type {column.type!r} would need SQLAlchemy's conversion")

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, processor in zip(self.names, self.processors, strict=True):
            if name in params:
                value = params[name]
            elif name in self.fixed:
                value = self.fixed[name]
            else:
                raise sa_exc.ArgumentError(f"a value is required for the parameter {name!r} of: {self.sql}")
            values.append(value if processor is None else processor(value))
        return values


class Prepared:
    """A Core (or `text()`) statement built once, which `UnitOfWork.fetch` runs on the driver on PostgreSQL.

    `postgresql`: the form PostgreSQL runs, when it differs (see `listing`). `columns`: an INSERT's columns given
    (the others take their defaults), as SQLAlchemy takes them from the parameters' keys."""

    __slots__ = ("statement", "postgresql", "columns", "_compiled")

    def __init__(self, statement: Any, *, postgresql: Any = None, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.postgresql = statement if postgresql is None else postgresql
        self.columns = columns
        self._compiled: _Compiled | None = None

    @classmethod
    def listing(cls, build: Callable[[Callable[[Any, str], Any]], Any]) -> Prepared:
        """A statement that picks rows by a list of values: `build(one_of)` makes it, `one_of(column, name)` being
        `column IN (…)` on SQLite and `column = ANY(:name)` on PostgreSQL, where one array parameter keeps it one
        statement whatever the list's length (prepared once per connection)."""
        return cls(build(_in_list), postgresql=build(_any_of))

    @property
    def compiled(self) -> _Compiled:
        if self._compiled is None:
            self._compiled = _Compiled(self.postgresql, column_keys=self.columns)
        return self._compiled


def insert_from_arrays(table: Table, columns: Mapping[str, Any], *, in_order: bool = False) -> Any:
    """PostgreSQL: `INSERT INTO table (columns) SELECT … FROM unnest(…)`, one array parameter per column (named as
    the column, of the type `columns` gives it), so any number of rows go in one statement whose text does not depend
    on how many (prepared once per connection). `in_order`: the rows taken in the arrays' order, the order an upsert
    then locks them in. The caller adds its ON CONFLICT clause; `arrays_of` gives the parameters."""
    arrays = [bindparam(name, type_=ARRAY(kind)) for name, kind in columns.items()]
    ordinality = {"with_ordinality": "position"} if in_order else {}
    given = func.unnest(*arrays).table_valued(*columns, **ordinality).render_derived(name="given")
    rows = select(*(given.c[name] for name in columns))
    if in_order:
        rows = rows.order_by(given.c.position)
    return pg_insert(table).from_select(list(columns), rows)


def arrays_of(rows: Sequence[Mapping[str, Any]], columns: Iterable[str]) -> dict[str, list[Any]]:
    """The parameters of an `insert_from_arrays` statement: each column's values, row after row."""
    return {name: [row[name] for row in rows] for name in columns}


def _in_list(column: Any, name: str) -> Any:
    return column.in_(bindparam(name, expanding=True))


def _any_of(column: Any, name: str) -> Any:
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


class _Values(list[Any]):
    """The first column's values: `all`, `first`, `one` and iteration, as SQLAlchemy's `ScalarResult`."""

    def all(self) -> list[Any]:
        return list(self)

    def first(self) -> Any:
        return self[0] if self else None

    def one(self) -> Any:
        if len(self) != 1:
            raise sa_exc.NoResultFound("no row") if not self else sa_exc.MultipleResultsFound("rows")
        return self[0]


_ROW_CLASSES: dict[tuple[str, ...], Any] = {}


def _row_class(keys: tuple[str, ...]) -> Any:
    cls = _ROW_CLASSES.get(keys)
    if cls is None:
        values = namedtuple("Row", keys, rename=True)  # type: ignore[misc]
        # `_mapping` as SQLAlchemy's Row has it: the row as {column: value}.
        cls = _ROW_CLASSES[keys] = type("Row", (values,), {"__slots__": (), "_mapping": property(values._asdict)})
    return cls


class Rows:
    """What a statement run on the driver gave back: SQLAlchemy's result methods over rows read at once."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise sa_exc.NoResultFound("no row") if not self._rows else sa_exc.MultipleResultsFound("rows")
        return self._rows[0]

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise sa_exc.MultipleResultsFound("more than one row")
        return self._rows[0] if self._rows else None

    def all(self) -> list[Any]:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self) -> _Values:
        return _Values(row[0] for row in self._rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


def _rows(records: list[asyncpg.Record]) -> list[Any]:
    if not records:
        return []
    cls = _row_class(tuple(records[0].keys()))
    return [cls._make(record) for record in records]


def translated(error: BaseException, sql: str, params: Any, *, connection_lost: bool) -> sa_exc.DBAPIError:
    """The SQLAlchemy exception SQLAlchemy's asyncpg dialect raises for this driver error (its classes chosen by the
    driver's, the driver's error as `orig`). A connection that broke or went away (`connection_lost`) is reported
    invalidated, as an `InterfaceError`, which the rest of Bazaar takes for an outage; an error of the driver's
    own about the statement or its values (asyncpg's `InterfaceError`, `DataError`) is an `InterfaceError` too, but
    the connection stays."""
    kind: type[sa_exc.DBAPIError] = sa_exc.DBAPIError
    if connection_lost:
        return sa_exc.InterfaceError(sql, params, error, connection_invalidated=True)
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        kind = sa_exc.IntegrityError
    elif isinstance(error, asyncpg.SyntaxOrAccessError):
        kind = sa_exc.ProgrammingError
    elif isinstance(error, asyncpg.InternalServerError):
        kind = sa_exc.InternalError
    elif isinstance(error, asyncpg.InterfaceError):
        kind = sa_exc.InterfaceError
    return kind(sql, params, error)


def lost(error: BaseException, connection: Any) -> bool:
    """Whether the error means the connection is gone (closed, reset, or the server shut it), or its protocol
    state is no longer to be trusted (the driver's internal error: a server's farewell arriving mid-statement)."""
    return connection.is_closed() or isinstance(error, (OSError, *_CONNECTION_LOST))


_CONNECTION_LOST = (
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionDoesNotExistError,
)


async def run(connection: Any, compiled: _Compiled, params: Mapping[str, Any]) -> Rows:
    """Run a compiled statement on an asyncpg connection already in the transaction."""
    arguments = compiled.arguments(params)
    for tap in taps:
        tap(compiled.sql, compiled.options)
    if compiled.returns_rows:
        records = await connection.fetch(compiled.sql, *arguments)
        return Rows(_rows(records), len(records))
    status = await connection.execute(compiled.sql, *arguments)
    count = status.rsplit(" ", 1)[-1]
    return Rows([], int(count) if count.isdigit() else -1)


_INSERTS: dict[tuple[Table, tuple[str, ...]], _Compiled | None] = {}


def insert_for(table: Table, keys: tuple[str, ...]) -> _Compiled | None:
    """The table's INSERT naming these columns (and those with a Python-side default), compiled once; None when a
    default is one the driver cannot be given (an SQL expression, a sequence), and SQLAlchemy writes the rows."""
    key = (table, keys)
    if key not in _INSERTS:
        compiled: _Compiled | None = _Compiled(insert(table), column_keys=keys)
        for name in compiled.names if compiled else ():
            if name not in keys:
                default = table.c[name].default
                if default is None or not (default.is_scalar or default.is_callable):
                    compiled = None
                    break
        _INSERTS[key] = compiled
    return _INSERTS[key]


def python_default(generator: Any) -> Any:
    """A column's Python-side `default` or `onupdate` value: its constant, or its callable called (with no execution
    context, which Bazaar's defaults do not use)."""
    return generator.arg if generator.is_scalar else generator.arg(None)


def _arguments(table: Table, compiled: _Compiled, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Each row's parameters for the table's compiled INSERT; columns the rows leave out take their default."""
    defaults: dict[str, Any] = {}
    for name in compiled.names:
        if name not in rows[0]:
            defaults[name] = table.c[name].default
    arguments = []
    for row in rows:
        if defaults:
            row = {**row, **{n: python_default(d) for n, d in defaults.items()}}
        arguments.append(compiled.arguments(row))
    return arguments


async def insert_rows(connection: Any, table: Table, compiled: _Compiled, rows: list[dict[str, Any]]) -> None:
    """Write rows (all with the same keys) with one pipelined statement; missing columns take their default."""
    arguments = _arguments(table, compiled, rows)
    for tap in taps:
        tap(compiled.sql, compiled.options)
    if len(arguments) == 1:  # one row: a plain execute costs the driver less than its batch machinery
        await connection.execute(compiled.sql, *arguments[0])
    else:
        await connection.executemany(compiled.sql, arguments)


_LENGTH = re.compile(r"\(\d+\)")
# Column types whose values go into a statement as an array and come out of `unnest` one per row, as a one-row
# INSERT binds them (an ARRAY column would be flattened by `unnest`, so it is not among them).
_ARRAYABLE = _PLAIN_RESULTS


def _array_of(column: Any) -> str:
    """The column's type as an array parameter's element type, without its length: an explicit cast to VARCHAR(n)
    would cut a longer value where the column's assignment refuses it ("value too long"), as a one-row INSERT does."""
    return _LENGTH.sub("", column.type.compile(dialect=_DIALECT)) + "[]"


class _Update:
    """Rows of one table changed by primary key, each in the same columns (`keys`): the values of a row's key
    columns, then of those columns, as parameters; and its part of a statement, the rows through `unnest`."""

    __slots__ = ("table", "names", "processors")

    def __init__(self, table: Table, keys: tuple[str, ...]) -> None:
        self.table = table
        self.names = _keyed(table, keys)
        self.processors = tuple(
            table.c[name].type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for name in self.names
        )

    def arguments(self, rows: list[dict[str, Any]]) -> list[list[Any]]:
        return [
            [row[n] if p is None else p(row[n]) for n, p in zip(self.names, self.processors, strict=True)]
            for row in rows
        ]

    def statement(self, first: int) -> str:
        quote = _DIALECT.identifier_preparer
        table = quote.format_table(self.table)
        columns = [quote.format_column(self.table.c[name]) for name in self.names]
        arrays = ", ".join(f"${first + n}::{_array_of(self.table.c[name])}" for n, name in enumerate(self.names))
        keys = len(self.table.primary_key.columns)
        sets = ", ".join(f"{c} = v.{c}" for c in columns[keys:])
        where = " AND ".join(f"{table}.{c} = v.{c}" for c in columns[:keys])
        # Only the schema's names (quoted by the dialect) and types go into the text; every value is a parameter.
        return f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({', '.join(columns)}) WHERE {where}"  # noqa: S608


_UPDATES: dict[tuple[Table, tuple[str, ...]], _Update | None] = {}


def update_for(table: Table, keys: tuple[str, ...]) -> _Update | None:
    """The change of these columns of rows picked by primary key, built once; None when a column (a key among them)
    cannot go through an array, and SQLAlchemy writes the rows."""
    key = (table, keys)
    if key not in _UPDATES:
        _UPDATES[key] = _Update(table, keys) if _arrayable(table, _keyed(table, keys)) else None
    return _UPDATES[key]


def _keyed(table: Table, keys: tuple[str, ...]) -> tuple[str, ...]:
    return (*(column.key for column in table.primary_key.columns), *keys)


def _arrayable(table: Table, names: Sequence[str]) -> bool:
    return all(isinstance(table.c[name].type, _ARRAYABLE) for name in names)


INSERT = "insert"
UPDATE = "update"
_NO_OPTIONS: Mapping[str, Any] = {}
# A group of rows one statement writes: (INSERT or UPDATE, the table, the columns given).
Group = tuple[str, Table, tuple[str, ...]]


class _Together:
    """Rows of several tables written by one statement: each table's INSERT takes its columns as arrays, one
    parameter per column, through `unnest`, and all but the last run as data-modifying WITH queries of it; rows
    changed by primary key (`UnitOfWork.update`) are an UPDATE taking its rows so too.

    PostgreSQL runs them as one statement: a row may reference a row another of them writes (the foreign key is
    checked at the statement's end), a failing row fails all of them (as it fails the transaction anyway), and it
    is one round trip where a table each was one each. Every part sees the rows as they were before the statement
    (an UPDATE cannot see a row an INSERT of it writes: `UnitOfWork` gives such a change to the insert instead).
    The text depends only on the tables and their columns, not on how many rows each has, so asyncpg prepares it
    once per connection."""

    __slots__ = ("sql", "parts")

    def __init__(self, groups: Sequence[tuple[Table, _Compiled | _Update]]) -> None:
        quote = _DIALECT.identifier_preparer
        self.parts: list[tuple[Table, _Compiled | _Update, str]] = []  # each part, as the statement a tap is shown
        position = 0
        statements = []
        for table, compiled in groups:
            if isinstance(compiled, _Update):
                statement = compiled.statement(position + 1)
                position += len(compiled.names)
            else:
                columns = [table.c[name] for name in compiled.names]
                arrays = []
                for column in columns:
                    position += 1
                    arrays.append(f"${position}::{_array_of(column)}")
                names = ", ".join(quote.format_column(column) for column in columns)
                # Only the schema's names (quoted by the dialect) and types go into the text; every value is a
                # parameter.
                into = f"INSERT INTO {quote.format_table(table)} ({names})"
                statement = f"{into} SELECT * FROM unnest({', '.join(arrays)})"  # noqa: S608
            statements.append(statement)
            self.parts.append((table, compiled, statement))
        *first, last = statements
        with_ = "WITH " + ", ".join(f"w{n} AS ({part})" for n, part in enumerate(first)) + " " if first else ""
        self.sql = with_ + last


_TOGETHER: dict[tuple[Group, ...], _Together | None] = {}


def writes_for(groups: tuple[Group, ...]) -> _Together | None:
    """One statement writing the rows of these groups (each an INSERT or an UPDATE by primary key of a table, with
    these columns given), built once; None when a group cannot be written on the driver (see `insert_for` and
    `update_for`) or a column cannot go through an array."""
    if groups not in _TOGETHER:
        parts: list[tuple[Table, _Compiled | _Update]] = []
        for kind, table, keys in groups:
            compiled: _Compiled | _Update | None
            if kind == UPDATE:
                compiled = update_for(table, keys)
            else:
                compiled = insert_for(table, keys)
                if compiled is not None and not _arrayable(table, compiled.names):
                    compiled = None
            if compiled is None:
                _TOGETHER[groups] = None
                break
            parts.append((table, compiled))
        else:
            _TOGETHER[groups] = _Together(parts)
    return _TOGETHER[groups]


async def write_together(connection: Any, together: _Together, rows: Sequence[list[dict[str, Any]]]) -> None:
    """Write each group's rows (`rows` in the order of `writes_for`'s groups) with the one statement."""
    parameters: list[Any] = []
    for (table, compiled, statement), group_rows in zip(together.parts, rows, strict=True):
        if isinstance(compiled, _Update):
            arguments, options = compiled.arguments(group_rows), _NO_OPTIONS
        else:
            arguments, options = _arguments(table, compiled, group_rows), compiled.options
        parameters.extend([row[n] for row in arguments] for n in range(len(compiled.names)))
        for tap in taps:
            tap(statement, options)
    await connection.execute(together.sql, *parameters)
