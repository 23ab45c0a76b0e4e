"""The Tantivy index on disk: its schema, one lazily opened reader per process, and the single writer.

Readers reload when a commit lands (tantivy's commit watcher, and at once when `generation()`
sees meta.json change), so a web process never needs a writer. Exactly one process may hold
the writer; a second gets `IndexLocked` and stays a reader.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import tantivy

log = logging.getLogger("bazaar.search")

# Bump when the schema changes: a new folder is created and the indexer rebuilds it from the database.
SCHEMA_VERSION = 5
CATEGORY_LEVELS = 4  # facet fields cat_l0..cat_l3; deeper categories count under their level-3 ancestor
SEP = "\x1f"  # joins id, slug and name inside one facet value so facets need no database lookup
# One indexing thread with room for a whole catalog: a full rebuild of a million products ends as a
# single segment instead of several. A search pays its fixed costs (term lookups, fuzzy automata)
# once per segment, and facet counts over one segment are exact. The budget is a ceiling, not an
# allocation: the small batches the indexer commits every second use a few megabytes.
WRITER_HEAP_BYTES = 2_000_000_000
GENERATION_CHECK_SECONDS = 0.02


class IndexLocked(Exception):
    """Another process holds the index writer."""


def build_schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("id", stored=True, tokenizer_name="raw")
    # The result-list entry as JSON, written at index time: a search reads one stored value per hit
    # and builds no objects for it (the other fields are only searched, sorted and counted).
    b.add_bytes_field("card", stored=True, indexed=False)
    b.add_text_field("title", tokenizer_name="en_stem")
    # Fuzzy queries are not analysed, so typo tolerance needs an unstemmed copy of the words.
    b.add_text_field("title_plain", tokenizer_name="default")
    b.add_text_field("brand", fast=True, tokenizer_name="raw")
    b.add_text_field("brand_key", tokenizer_name="raw")
    b.add_text_field("brand_text", tokenizer_name="default")
    b.add_text_field("description", tokenizer_name="en_stem", index_option="freq")
    b.add_text_field("category_text", tokenizer_name="en_stem")
    # Title, category names and description in one field, for matching only (no frequencies, no
    # positions): "is the stem in any of them" becomes one posting list (see SearchEngine._match_query).
    b.add_text_field("match_text", tokenizer_name="en_stem", index_option="basic")
    b.add_text_field("category_ids", tokenizer_name="raw", index_option="basic")
    for level in range(CATEGORY_LEVELS):
        b.add_text_field(f"cat_l{level}", fast=True, tokenizer_name="raw", index_option="basic")
    b.add_unsigned_field("price", indexed=True, fast=True)
    # The price and rating facets count one short string per product, "<price bucket>:<stars>" (at
    # most 45 values): one column read per matching document instead of two, and a terms count over
    # short strings is ~10x cheaper than a numeric range aggregation. Every product has one (the price
    # bucket is NO_PRICE when nobody has it in stock): counting over a column with gaps costs twice as much.
    b.add_text_field("price_rating", fast=True, tokenizer_name="raw", index_option="basic")
    # Whole stars, for "at least m stars" as "in none of the buckets below m" (see SearchEngine._filters).
    b.add_text_field("rating_bucket", tokenizer_name="raw", index_option="basic")
    b.add_float_field("rating", indexed=True, fast=True)
    b.add_unsigned_field("rating_count", fast=True)
    b.add_boolean_field("in_stock", indexed=True, fast=True)
    b.add_unsigned_field("created", fast=True)
    return b.build()


class SearchIndex:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / f"v{SCHEMA_VERSION}"
        self.schema = build_schema()
        self._index: tantivy.Index | None = None
        self._lock = threading.Lock()
        self._meta_stamp: tuple[int, int] | None = None
        self._meta_path = str(self.path / "meta.json")
        self._generation = "0"
        self._next_check = 0.0

    @property
    def rebuild_marker(self) -> Path:
        return self.path / "rebuild-requested"

    @property
    def state_file(self) -> Path:
        return self.path / "indexer-state.json"

    def index(self) -> tantivy.Index:
        """Open the index, creating an empty one if this is the first process to need it."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self.path.mkdir(parents=True, exist_ok=True)
                    index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
                    index.config_reader(reload_policy="commit")
                    self._index = index
        return self._index

    def searcher(self) -> tantivy.Searcher:
        return self.index().searcher()

    def generation(self) -> str:
        """Changes with every commit; reloads this process's reader the first time it sees a new one.

        meta.json is looked at no more than every GENERATION_CHECK_SECONDS: a search is then at most
        that much later to see another process's commit, and a busy web process makes one stat call
        every few milliseconds instead of one per request (a system call that gives up the GIL, and
        taking the GIL back can wait behind the search threads). A commit made by this process is
        seen at once (`committed`).
        """
        now = time.monotonic()
        if now < self._next_check:
            return self._generation
        index = self.index()
        try:
            st = os.stat(self._meta_path)
        except FileNotFoundError:
            return "0"
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._meta_stamp:
            index.reload()
            self._meta_stamp = stamp
            self._generation = f"{stamp[0]:x}{stamp[1]:x}"
        self._next_check = now + GENERATION_CHECK_SECONDS
        return self._generation

    def committed(self) -> None:
        """This process has just committed: reload and take the new generation on the next search."""
        self.index().reload()
        self._next_check = 0.0

    def writer(self, heap_bytes: int = WRITER_HEAP_BYTES) -> tantivy.IndexWriter:
        try:
            return self.index().writer(heap_size=heap_bytes, num_threads=1)
        except ValueError as exc:
            if "LockBusy" in str(exc):
                raise IndexLocked(str(exc)) from exc
            raise

    def remove_older_versions(self) -> list[str]:
        """Delete the folders of earlier schema versions (called once this version has been built).

        A web process still running the old version keeps reading the files it has open (on Linux
        they go away only when closed); a new one opens this version.
        """
        removed = []
        for folder in self.root.glob("v*"):
            version = folder.name[1:]
            if folder.is_dir() and version.isdigit() and int(version) < SCHEMA_VERSION:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        if removed:
            log.info("removed search index folders of earlier versions: %s", ", ".join(sorted(removed)))
        return removed

    def num_docs(self) -> int:
        self.generation()
        return int(self.searcher().num_docs)

    async def ping(self) -> bool:
        self.searcher()
        return True
