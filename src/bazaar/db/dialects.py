"""Statements built once for each backend: an upsert's ON CONFLICT clause is PostgreSQL's or SQLite's own
construct, so a hot path builds both at import and picks by the unit of work it runs in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork

T = TypeVar("T")


def taken_once(uow: UnitOfWork, due: Select[Any]) -> Select[Any]:
    """The rows `due` selects (their ids, one column; ordered and limited), for an `UPDATE … WHERE id IN (…)` that
    takes them: on PostgreSQL rows another transaction is taking are skipped (`FOR UPDATE SKIP LOCKED`) and picked
    once (a MATERIALIZED CTE: a subquery the plan ran again could pick past the LIMIT); SQLite has one writer at a
    time."""
    if uow.is_postgres:
        due = due.with_for_update(skip_locked=True)
    picked = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
    return select(*picked.c)


class PerDialect(Generic[T]):
    """`build(insert)` with each dialect's `insert`, built once."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._postgres, self._sqlite = build(pg_insert), build(sqlite_insert)

    def of(self, uow: UnitOfWork) -> T:
        return self._postgres if uow.is_postgres else self._sqlite

    def prepared(self, columns: Sequence[str] | None = None) -> Prepared:
        """Both forms as one statement for `UnitOfWork.fetch` (an INSERT's `columns` given, the others defaulted)."""
        return Prepared(self._sqlite, postgresql=self._postgres, columns=columns)
