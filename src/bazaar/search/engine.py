"""Running one search on the index: text matching with typo tolerance, filters, sorts, pages and facets.

Synchronous and CPU-bound (Tantivy releases the GIL), so the service runs it in a thread.
The brand facet is disjunctive: it is counted without the brand filter, so picking one brand
still shows how many results the others would give. The other facets count the matching set.
Facets do not depend on the page or the sort, so they are kept per query and index generation
and paging through results (or re-sorting them) costs one search, not a search and a count.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import tantivy
from tantivy import FieldType, Occur, Order, Query

from bazaar.catalog.schemas import CategoryRef, MoneyModel
from bazaar.search.documents import PRICE_EDGES, RATING_BUCKETS
from bazaar.search.index import CATEGORY_LEVELS, SEP, SearchIndex
from bazaar.search.schemas import (
    CategoryCount,
    Facets,
    PriceBucket,
    RatingBucket,
    SearchItem,
    SearchParams,
    SearchResult,
    ValueCount,
)
from bazaar.search.suggest import did_you_mean, known

PLAIN = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .build()
)
STEMMED = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)
MAX_WORDS = 12
FEW_RESULTS = 5  # below this many exact matches, try near spellings and offer "did you mean"
FUZZY_MIN_LENGTH = 4
RATING_MINS = (4, 3, 2, 1)
FACET_CACHE_ENTRIES = 4096
# Words that match nearly every product: dropped from a query that has other words.
STOPWORDS = frozenset("a an and are as at be by for from in is it of on or the to with".split())
# (field, boost, whether the field is stemmed)
FIELD_BOOSTS = (
    ("title", 3.0, True),
    ("brand_text", 2.0, False),
    ("category_text", 1.5, True),
    ("description", 0.5, True),
)
SORTS: dict[str, tuple[str, Order]] = {
    "price_asc": ("price", Order.Asc),
    "price_desc": ("price", Order.Desc),
    "rating": ("rating", Order.Desc),
    "newest": ("created", Order.Desc),
}


def _all(queries: list[Query]) -> Query:
    if not queries:
        return Query.all_query()
    if len(queries) == 1:
        return queries[0]
    return Query.boolean_query([(Occur.Must, q) for q in queries])


def _count(result: tantivy.SearchResult) -> int:
    return int(result.count)  # type: ignore[attr-defined]  # present at run time, missing from the stub


def _fuzzy_distance(word: str) -> int:
    return 1 if len(word) < 8 else 2


class SearchEngine:
    def __init__(self, index: SearchIndex) -> None:
        self.index = index
        self.schema = index.schema
        self._facet_cache = _Lru(FACET_CACHE_ENTRIES)

    def run(self, p: SearchParams, generation: str = "") -> SearchResult:
        searcher = self.index.searcher()
        words = _words(p.q)
        filters, category_level = self._filters(searcher, p, with_words=bool(words))
        text = self._text_query(words) if words else None
        result = self._page(searcher, text, filters, p)
        typo_words: frozenset[str] = frozenset()
        suggestion = None
        # Few hits because of a word the index has never seen: try near spellings of those words only
        # (few hits with known words just means narrow filters, and fuzzy automata are not free).
        unknown = {w for w in words if not known(searcher, w)} if words and _count(result) < FEW_RESULTS else set()
        if unknown:
            fuzzy_words = frozenset(w for w in unknown if len(w) >= FUZZY_MIN_LENGTH)
            if fuzzy_words:
                fuzzy = self._text_query(words, fuzzy=fuzzy_words)
                fuzzy_result = self._page(searcher, fuzzy, filters, p)
                if _count(fuzzy_result) > _count(result):
                    text, result, typo_words = fuzzy, fuzzy_result, fuzzy_words
            suggestion = did_you_mean(searcher, words)
        key = (generation, tuple(words), typo_words, _filter_key(p), p.facet_size)
        cached = self._facet_cache.get(key)
        if cached is None:
            facets = self._facets(searcher, text, filters, category_level, p)
            self._facet_cache.put(key, facets.model_dump_json(by_alias=True))
        else:
            facets = Facets.model_validate_json(cached)
        return SearchResult(
            items=[self._item(searcher.doc(address)) for _, address in result.hits],
            total=_count(result),
            page=p.page,
            per_page=p.per_page,
            facets=facets,
            did_you_mean=suggestion,
            typo_tolerant=bool(typo_words),
        )

    def _text_query(self, words: list[str], *, fuzzy: set[str] | frozenset[str] = frozenset()) -> Query:
        """Every word must match somewhere (title counts most); for words in `fuzzy`, near spellings count too."""
        per_word: list[Query] = []
        for word in words:
            stems = STEMMED.analyze(word)
            stem = stems[0] if stems else word
            parts = [
                Query.boost_query(Query.term_query(self.schema, field, stem if stemmed else word), boost)
                for field, boost, stemmed in FIELD_BOOSTS
            ]
            if word in fuzzy:
                distance = _fuzzy_distance(word)
                parts.append(Query.boost_query(Query.fuzzy_term_query(self.schema, "title_plain", word, distance), 1.0))
                parts.append(Query.boost_query(Query.fuzzy_term_query(self.schema, "brand_text", word, distance), 0.8))
            per_word.append(Query.boolean_query([(Occur.Should, q) for q in parts]))
        return _all(per_word)

    def _filters(
        self, searcher: tantivy.Searcher, p: SearchParams, *, with_words: bool
    ) -> tuple[dict[str, Query], int]:
        # With words, the text query drives the intersection and a range filter only has to check the
        # documents it proposes: a fast-field range does that by seeking in the column (~4x cheaper than
        # gathering every posting list of the range from the inverted index). Without words the filter
        # itself drives, and the inverted index is the cheaper way to enumerate the whole range.
        inverted = not with_words
        filters: dict[str, Query] = {}
        facet_level = 0
        if p.category:
            level = next(
                (n for n in range(CATEGORY_LEVELS) if searcher.doc_freq("category_ids", f"{n}:{p.category}") > 0), None
            )
            if level is None:  # no product in that category (or no such category): nothing matches
                filters["category"] = Query.empty_query()
            else:
                filters["category"] = Query.term_query(self.schema, "category_ids", f"{level}:{p.category}")
                facet_level = min(level + 1, CATEGORY_LEVELS - 1)
        if p.brand:
            filters["brand"] = Query.term_set_query(self.schema, "brand_key", [b.lower() for b in p.brand])
        if p.price_min is not None or p.price_max is not None:
            filters["price"] = Query.range_query(
                self.schema,
                "price",
                FieldType.Unsigned,
                lower_bound=p.price_min,
                upper_bound=p.price_max,
                use_inverted_index=inverted,
            )
        if p.rating_min is not None:
            filters["rating"] = Query.range_query(
                self.schema,
                "rating",
                FieldType.Float,
                lower_bound=float(p.rating_min),
                upper_bound=None,
                use_inverted_index=inverted,
            )
        if p.in_stock and "price" not in filters:  # only in-stock products have a price: implied
            # ...and every in-stock product has one: with words, checking the price column costs ~20 %
            # less than seeking in the posting list of nearly every product.
            filters["in_stock"] = (
                Query.exists_query("price") if with_words else Query.term_query(self.schema, "in_stock", True)
            )
        return filters, facet_level

    def _page(
        self, searcher: tantivy.Searcher, text: Query | None, filters: dict[str, Query], p: SearchParams
    ) -> tantivy.SearchResult:
        query = _all([q for q in (text, *filters.values()) if q is not None])
        offset, limit = (p.page - 1) * p.per_page, p.per_page
        if p.sort in SORTS:
            field, order = SORTS[p.sort]
            return searcher.search(query, limit, count=True, order_by_field=field, offset=offset, order=order)
        if text is None:  # browsing without words: most-reviewed first
            return searcher.search(query, limit, count=True, order_by_field="rating_count", offset=offset)
        return searcher.search(query, limit, count=True, offset=offset)

    def _facets(
        self,
        searcher: tantivy.Searcher,
        text: Query | None,
        filters: dict[str, Query],
        category_level: int,
        p: SearchParams,
    ) -> Facets:
        size = p.facet_size
        segment_size = max(size * 5, 200)  # per-segment candidates: keeps top-N counts exact in practice
        brand = {"terms": {"field": "brand", "size": size, "segment_size": segment_size}}
        aggs: dict[str, dict[str, Any]] = {
            "category": {"terms": {"field": f"cat_l{category_level}", "size": size, "segment_size": segment_size}},
            "price": {"terms": {"field": "price_bucket", "size": len(PRICE_EDGES)}},
            "rating": {"terms": {"field": "rating_bucket", "size": RATING_BUCKETS}},
        }
        if "brand" not in filters:
            aggs["brand"] = brand
        results = searcher.aggregate(_all([q for q in (text, *filters.values()) if q is not None]), aggs)
        if "brand" in filters:
            without = [q for q in (text, *(v for k, v in filters.items() if k != "brand")) if q is not None]
            results.update(searcher.aggregate(_all(without), {"brand": brand}))
        return Facets(
            category=[_category_count(b) for b in results["category"]["buckets"]],
            brand=[ValueCount(value=b["key"], count=b["doc_count"]) for b in results["brand"]["buckets"]],
            price=_price_buckets(_by_key(results["price"])),
            rating=_rating_buckets(_by_key(results["rating"])),
        )

    @staticmethod
    def _item(doc: tantivy.Document) -> SearchItem:
        cat_id, slug, name = str(doc.get_first("category")).split(SEP, 2)
        price = doc.get_first("price")
        return SearchItem(
            id=doc.get_first("id"),
            title=doc.get_first("title"),
            brand=doc.get_first("brand"),
            category=CategoryRef(id=cat_id, slug=slug, name=name),
            price_from=None if price is None else MoneyModel.of(int(price), doc.get_first("currency") or "USD"),
            rating=round(float(doc.get_first("rating") or 0.0), 2),
            rating_count=int(doc.get_first("rating_count") or 0),
            in_stock=bool(doc.get_first("in_stock")),
        )


def _words(q: str) -> list[str]:
    words = PLAIN.analyze(q)[:MAX_WORDS]
    meaningful = [w for w in words if w not in STOPWORDS]
    return meaningful or words


def _filter_key(p: SearchParams) -> tuple[Any, ...]:
    brands = tuple(sorted({b.lower() for b in p.brand}))
    return (p.category, brands, p.price_min, p.price_max, p.rating_min, p.in_stock)


def _by_key(agg: dict[str, Any]) -> dict[int, int]:
    return {int(b["key"]): int(b["doc_count"]) for b in agg["buckets"]}


def _category_count(bucket: dict[str, Any]) -> CategoryCount:
    cat_id, slug, name = str(bucket["key"]).split(SEP, 2)
    return CategoryCount(value=cat_id, slug=slug, name=name, count=bucket["doc_count"])


def _price_buckets(counts: dict[int, int]) -> list[PriceBucket]:
    edges = (*PRICE_EDGES, None)
    return [
        PriceBucket(from_=MoneyModel.of(low), to=None if high is None else MoneyModel.of(high), count=counts.get(i, 0))
        for i, (low, high) in enumerate(zip(edges, edges[1:], strict=False))
        if low is not None
    ]


def _rating_buckets(counts: dict[int, int]) -> list[RatingBucket]:
    # Buckets are whole stars (4 holds 4 and up); "at least m stars" is the sum from m upwards.
    return [RatingBucket(min=m, count=sum(c for star, c in counts.items() if star >= m)) for m in RATING_MINS]


class _Lru:
    """A small thread-safe LRU map of facets as JSON text (searches run in worker threads).

    Text, not models: a full cache holds thousands of entries, and as pydantic models (some 90
    objects each) they would make every full garbage collection walk hundreds of thousands of
    objects: pauses of 100-250 ms in a web process. A string is one object the collector skips;
    parsing it back costs a few tens of microseconds.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[Any, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> str | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: str) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
