"""Which database errors mean "the database is not reachable right now" (worth a retry), as opposed to a bug."""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa_exc

# SQLSTATE classes and codes of a server that is gone, going or not yet back:
# 08 connection exception; 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up);
# 53300 too many connections.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def database_unavailable(error: BaseException) -> bool:
    """True when `error` (or what it wraps) says the database could not be reached or went away."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.TimeoutError):  # no pooled connection came free in time
            return True
        if isinstance(current, (ConnectionError, asyncio.TimeoutError, TimeoutError)):
            return True
        if isinstance(current, OSError) and current.errno is not None:
            return True  # connect() failed: refused, unreachable, reset
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES):
            return True
        if type(current).__name__ in {"ConnectionDoesNotExistError", "ConnectionFailureError", "InterfaceError"}:
            return "connection" in str(current).lower() or "closed" in str(current).lower()
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False
