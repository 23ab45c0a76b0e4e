"""The indexer: the one writer of the search index, fed by catalog and stock events, committing about once a second.

Events only mark product ids; a batch re-reads those products from the database and
replaces their documents, so replays and out-of-order events are harmless. After each
commit the indexer records when its batch started; on start it re-marks every product
whose events were delivered after that, which covers a crash between an event's delivery
and the commit that would have indexed it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import tantivy
from sqlalchemy import func, or_, select

from bazaar.catalog.models import Product
from bazaar.db.outbox import OutboxEvent
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import aware, utcnow
from bazaar.search.documents import iter_all_facts, load_categories, load_facts
from bazaar.search.index import IndexLocked, SearchIndex

log = logging.getLogger("bazaar.search.indexer")
COMMIT_INTERVAL_SECONDS = 1.0
BATCH = 1000
CATCH_UP_MARGIN = timedelta(seconds=10)
LOCK_RETRY_SECONDS = 5.0


@dataclass
class RebuildReport:
    products: int
    seconds: float


class Indexer:
    def __init__(self, index: SearchIndex, read_uow: Callable[[], UnitOfWork]) -> None:
        self.index = index
        self.read_uow = read_uow
        self.pending: set[str] = set()
        self._writer: tantivy.IndexWriter | None = None
        self._started = False
        self._last_commit = 0.0
        self._lock_retry_at = 0.0

    def mark(self, product_id: str) -> None:
        self.pending.add(product_id)

    async def run_once(self) -> int:
        """One step of the worker: start up, honour a rebuild request, or index one batch; answers work done."""
        writer = self._acquire()
        if writer is None:
            return 0
        if not self._started:
            self._started = True
            return await self._start()
        if self.index.rebuild_marker.exists():
            self.index.rebuild_marker.unlink(missing_ok=True)
            return (await self.rebuild()).products
        if not self.pending or time.monotonic() - self._last_commit < COMMIT_INTERVAL_SECONDS:
            return 0
        return await self.index_pending()

    async def index_pending(self) -> int:
        writer = self._acquire()
        if writer is None or not self.pending:
            return 0
        started = utcnow()
        ids = list(self.pending)[:BATCH]
        self.pending.difference_update(ids)
        try:
            async with self.read_uow() as uow:
                facts = await load_facts(uow, ids, await load_categories(uow))
        except Exception:
            self.pending.update(ids)  # retried in the next batch
            raise
        for product_id in ids:
            writer.delete_documents_by_term("id", product_id)  # a product no longer in the database leaves too
        for fact in facts:
            writer.add_document(fact.document(self.index.schema))
        await asyncio.to_thread(self._commit, writer, started)
        return len(ids)

    async def rebuild(self, *, progress: Callable[[int], object] | None = None) -> RebuildReport:
        """Replace the whole index with what the database holds; readers switch over at the single commit."""
        writer = self._acquire()
        if writer is None:
            raise IndexLocked("another process holds the index writer")
        began, started = time.perf_counter(), utcnow()
        writer.delete_all_documents()
        count = 0
        async with self.read_uow() as uow:
            categories = await load_categories(uow)
            async for batch in iter_all_facts(uow, categories):
                for fact in batch:
                    writer.add_document(fact.document(self.index.schema))
                count += len(batch)
                if progress is not None:
                    progress(len(batch))
        await asyncio.to_thread(self._commit, writer, started)
        await asyncio.to_thread(self.index.remove_older_versions)
        log.info("search index rebuilt: %d products", count)
        return RebuildReport(products=count, seconds=time.perf_counter() - began)

    def close(self) -> None:
        """Give up the writer (its lock file goes with it)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.wait_merging_threads()
            del writer
            gc.collect()

    async def _start(self) -> int:
        """A fresh or lost index is rebuilt; else products with events after the last commit are re-marked."""
        covered_until = self._covered_until()
        async with self.read_uow() as uow:
            has_products = (await uow.session.execute(select(func.count()).select_from(Product))).scalar_one() > 0
            if covered_until is None or (has_products and self.index.num_docs() == 0):
                if not has_products and covered_until is None:
                    await asyncio.to_thread(self._commit, self._writer_or_fail(), utcnow())
                    return 0
                return (await self.rebuild()).products
            since = covered_until - CATCH_UP_MARGIN
            rows = await uow.session.execute(
                select(OutboxEvent.key)
                .where(or_(OutboxEvent.topic.like("catalog.%"), OutboxEvent.topic == "inventory.stock_changed.v1"))
                .where(or_(OutboxEvent.published_at.is_(None), OutboxEvent.published_at >= since))
                .distinct()
            )
            self.pending.update(key for (key,) in rows)
        return len(self.pending)

    def _commit(self, writer: tantivy.IndexWriter, covered_until: datetime) -> None:
        writer.commit()
        self.index.committed()
        self._last_commit = time.monotonic()
        tmp = self.index.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"covered_until": covered_until.isoformat()}))
        tmp.replace(self.index.state_file)

    def _covered_until(self) -> datetime | None:
        try:
            return aware(datetime.fromisoformat(json.loads(self.index.state_file.read_text())["covered_until"]))
        except (FileNotFoundError, KeyError, ValueError):
            return None

    def _writer_or_fail(self) -> tantivy.IndexWriter:
        writer = self._acquire()
        if writer is None:
            raise IndexLocked("another process holds the index writer")
        return writer

    def _acquire(self) -> tantivy.IndexWriter | None:
        if self._writer is None and time.monotonic() >= self._lock_retry_at:
            try:
                self._writer = self.index.writer()
            except IndexLocked:
                self._lock_retry_at = time.monotonic() + LOCK_RETRY_SECONDS
                log.info("search index writer held by another process; this one only reads")
        return self._writer
