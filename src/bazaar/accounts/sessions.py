"""Remembered bearer-token lookups: a shared cache spares each request the token query.

Only a cache every web process shares (Redis) is used: a process-local copy could not be told
that another process logged the token out. A cached entry lives `ttl` seconds at most; logging
out and role changes overwrite the token's entry with a "look it up" marker for the same time,
and entries are only ever added where no entry or marker exists, so a request that read the
token just before a logout cannot put the old answer back.

When the cache fails, a logout may not have reached it; so for one TTL after any failure this
process trusts no remembered entry and asks the database (which is always right).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime

from bazaar.accounts.schemas import Principal
from bazaar.kernel.clock import aware, utcnow
from bazaar.kernel.errors import DependencyUnavailable
from bazaar.kernel.ports import Cache

SESSION_TTL_SECONDS = 60.0
_LOOK_IT_UP = b"-"
log = logging.getLogger("bazaar.sessions")


def _key(token_hash: str) -> str:
    return f"session:{token_hash}"


class SessionCache:
    def __init__(self, cache: Cache | None, *, ttl_seconds: float = SESSION_TTL_SECONDS) -> None:
        self._cache = cache
        self._ttl = ttl_seconds
        self._distrust_until = 0.0  # monotonic time until which remembered entries are not used

    def _failed(self) -> None:
        self._distrust_until = time.monotonic() + self._ttl

    @property
    def enabled(self) -> bool:
        return self._cache is not None

    async def get(self, token_hash: str) -> Principal | None:
        """The caller behind a token if a fresh entry says so; None means: ask the database."""
        if self._cache is None or time.monotonic() < self._distrust_until:
            return None
        try:
            raw = await self._cache.get(_key(token_hash))
        except DependencyUnavailable:
            self._failed()
            return None  # the database still answers
        if raw is None or raw == _LOOK_IT_UP:
            return None
        entry = json.loads(raw)
        if aware(datetime.fromisoformat(entry["expires"])) <= utcnow():
            return None
        return Principal.model_validate(entry["principal"])

    async def put(self, token_hash: str, principal: Principal, *, expires_at: datetime) -> None:
        if self._cache is None:
            return
        entry = {"principal": principal.model_dump(mode="json"), "expires": aware(expires_at).isoformat()}
        try:
            await self._cache.add(_key(token_hash), json.dumps(entry).encode(), self._ttl)
        except DependencyUnavailable:
            self._failed()  # an answer not remembered costs one query next time

    async def forget(self, token_hashes: list[str]) -> None:
        """Make the next requests with these tokens ask the database."""
        if self._cache is None:
            return
        try:
            for token_hash in token_hashes:
                await self._cache.set(_key(token_hash), _LOOK_IT_UP, self._ttl)
        except DependencyUnavailable:
            self._failed()
            log.warning("session cache unavailable: %d tokens not marked; asking the database", len(token_hashes))
