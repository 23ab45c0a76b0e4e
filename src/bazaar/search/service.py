"""Search use case: validate the query, answer it from the index (never the database), cache popular answers."""

from __future__ import annotations

import asyncio
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

from bazaar.kernel.caching import CachedBytes, RefreshingCache
from bazaar.kernel.ports import Cache
from bazaar.search.engine import SearchEngine
from bazaar.search.errors import InvalidSearch, ResultWindowExceeded
from bazaar.search.index import SearchIndex
from bazaar.search.schemas import MAX_RESULT_WINDOW, SearchParams

# Keys carry the index generation, so a commit retires every cached answer at once; the TTL
# only bounds memory and how long a rarely repeated query occupies the cache.
RESULT_TTL_SECONDS = 10.0
REFRESH_AHEAD_SECONDS = 2.0
# Searches release the GIL inside Tantivy but hold it for their Python parts; more threads than cores
# only make them queue on the GIL, and the event loop serving cache hits queues behind them.
SEARCH_THREADS = min(4, os.cpu_count() or 2)


def validate(params: SearchParams) -> None:
    if params.price_min is not None and params.price_max is not None and params.price_min > params.price_max:
        raise InvalidSearch(
            "price_min must not be greater than price_max", price_min=params.price_min, price_max=params.price_max
        )
    if params.page * params.per_page > MAX_RESULT_WINDOW:
        raise ResultWindowExceeded(
            f"only the first {MAX_RESULT_WINDOW} results can be paged through; narrow the search with filters",
            max_result_window=MAX_RESULT_WINDOW,
            page=params.page,
            per_page=params.per_page,
        )


class SearchService:
    def __init__(self, index: SearchIndex, cache: Cache, *, shared: bool, node_id: str = "") -> None:
        self.index = index
        # Each node has its own replica, whose generations mean nothing to another node's: answers are
        # shared by this node's processes only.
        self._key_prefix = f"search:v1:{node_id}:"
        self.engine = SearchEngine(index)
        self.cache = RefreshingCache(cache, ttl=RESULT_TTL_SECONDS, refresh_ahead=REFRESH_AHEAD_SECONDS, shared=shared)
        self._threads = ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="search")

    async def warm_up(self) -> None:
        """Open this process's reader and run one query through the engine before serving.

        Called once a web process has started: the reader, the engine's lazily built pieces and
        the index pages a first query touches are then ready, rather than paid for by the first
        shoppers. It uses no cache shared with shoppers (its facets are keyed by a generation that
        never occurs), so no answer a shopper asks for is ever precomputed.
        """

        def run() -> None:
            self.index.generation()
            self.engine.run_json(SearchParams(per_page=1), generation="warm-up")

        await asyncio.get_running_loop().run_in_executor(self._threads, run)

    async def _run(self, params: SearchParams, generation: str) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(self._threads, self.engine.run_json, params, generation)

    async def search_json(self, params: SearchParams) -> CachedBytes:
        """The answer as JSON bytes with an ETag, from the cache when this exact query ran since the last commit."""
        validate(params)
        # A stat of meta.json (microseconds); it reloads the reader only when a commit has landed.
        generation = self.index.generation()
        digest = hashlib.blake2b(params.model_dump_json().encode(), digest_size=12).hexdigest()

        async def load() -> bytes:
            return await self._run(params, generation)

        return await self.cache.get_or_load(f"{self._key_prefix}{generation}:{digest}", load)
