"""The indexer: the one writer of the search index, fed by catalog and stock events, committing about once a second.

Events only mark product ids; a batch re-reads those products from the database and
replaces their documents, so replays and out-of-order events are harmless. After each
commit the indexer records when its batch started; on start it re-marks every product
whose events were delivered after that, which covers a crash between an event's delivery
and the commit that would have indexed it.

Each node of a cluster has its own index (its search replica) and its own indexer, fed by a
per-node subscription. The state file also says when this indexer started and when it had
caught up with the database since (`caught_up_at`), and it beats every few seconds: `/readyz`
reports the node ready only once its replica has caught up in this run and its indexer is alive.
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
BEAT_SECONDS = 5.0
# A replica whose indexer has not beaten for this long is stale: the node is not ready.
SILENT_AFTER_SECONDS = 30.0


class SearchReplicaBehind(Exception):
    """This node's search replica has not caught up with the database (or its indexer is not running)."""


@dataclass
class RebuildReport:
    products: int
    seconds: float


class Indexer:
    def __init__(
        self,
        index: SearchIndex,
        read_uow: Callable[[], UnitOfWork],
        *,
        rebuild_uow: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        self.index = index
        # Marked products are re-read where their change is sure to be seen (the primary); a full rebuild
        # may read a replica (its lag is far below CATCH_UP_MARGIN, which the next start re-reads anyway).
        self.read_uow = read_uow
        self.rebuild_uow = rebuild_uow or read_uow
        self.pending: set[str] = set()
        self._writer: tantivy.IndexWriter | None = None
        self._started = False
        self._last_commit = 0.0
        self._lock_retry_at = 0.0
        self._run_started: datetime | None = None
        self._caught_up_at: datetime | None = None
        self._covered: datetime | None = None
        self._last_beat = 0.0

    def mark(self, product_id: str) -> None:
        self.pending.add(product_id)

    async def run_once(self) -> int:
        """One step of the worker: start up, honour a rebuild request, or index one batch; answers work done."""
        writer = self._acquire()
        if writer is None:
            return 0
        if not self._started:
            self._started = True
            self._run_started = utcnow()
            self._covered = self._covered_until()
            self._write_state()  # not caught up in this run yet: /readyz says so from now on
            done = await self._start()
            if not self.pending:
                self._mark_caught_up()
            return done
        if self.index.rebuild_marker.exists():
            self.index.rebuild_marker.unlink(missing_ok=True)
            return (await self.rebuild()).products
        catching_up = self._caught_up_at is None
        if not self.pending or (not catching_up and time.monotonic() - self._last_commit < COMMIT_INTERVAL_SECONDS):
            if time.monotonic() - self._last_beat >= BEAT_SECONDS:
                self._write_state()
            return 0
        done = await self.index_pending()
        if catching_up and not self.pending:
            self._mark_caught_up()
        return done

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
        async with self.rebuild_uow() as uow:
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
        self._covered = covered_until
        self._write_state()

    def _mark_caught_up(self) -> None:
        self._caught_up_at = utcnow()
        self._write_state()
        log.info("search replica caught up with the database")

    def _write_state(self) -> None:
        state: dict[str, str | None] = {
            "covered_until": self._covered.isoformat() if self._covered else None,
            "started_at": self._run_started.isoformat() if self._run_started else None,
            "caught_up_at": self._caught_up_at.isoformat() if self._caught_up_at else None,
            "beat_at": utcnow().isoformat(),
        }
        self.index.path.mkdir(parents=True, exist_ok=True)
        tmp = self.index.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.index.state_file)
        self._last_beat = time.monotonic()

    def _covered_until(self) -> datetime | None:
        try:
            return aware(datetime.fromisoformat(json.loads(self.index.state_file.read_text())["covered_until"]))
        except (FileNotFoundError, KeyError, ValueError, TypeError):
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


def replica_ready(index: SearchIndex, *, node_started_at: datetime | None) -> bool:
    """Raises SearchReplicaBehind unless this node's index has caught up with the database in its indexer's
    current run (started with or after the node) and the indexer beat recently. Read from the state file,
    so any process of the node can ask (the indexer runs in the node's worker process)."""
    try:
        state = json.loads(index.state_file.read_text())
    except (FileNotFoundError, ValueError) as exc:
        raise SearchReplicaBehind("the search indexer has not started") from exc

    def when(name: str) -> datetime | None:
        value = state.get(name)
        return aware(datetime.fromisoformat(value)) if value else None

    started, caught_up, beat = when("started_at"), when("caught_up_at"), when("beat_at")
    if started is None or (node_started_at is not None and started < node_started_at - timedelta(seconds=1)):
        raise SearchReplicaBehind("the search indexer of this run has not started")
    if caught_up is None or caught_up < started:
        raise SearchReplicaBehind("the search replica is catching up with the database")
    if beat is None or utcnow() - beat > timedelta(seconds=SILENT_AFTER_SECONDS):
        raise SearchReplicaBehind("the search indexer is silent")
    return True
