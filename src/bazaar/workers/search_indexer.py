"""Search indexer worker: the single writer of the search index (see bazaar.search.indexer)."""

from __future__ import annotations

from bazaar.bootstrap import Container
from bazaar.search.indexer import Indexer


async def run_once(container: Container) -> int:
    indexer: Indexer = container.extras["search_indexer"]
    return await indexer.run_once()
