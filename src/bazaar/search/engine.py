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

import orjson
import tantivy
from tantivy import FieldType, Occur, Order, Query

from bazaar.catalog.schemas import CURRENCY
from bazaar.search.documents import NO_PRICE, PRICE_EDGES, RATING_BUCKETS
from bazaar.search.index import CATEGORY_LEVELS, SEP, SearchIndex
from bazaar.search.schemas import SearchParams
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
Clause = tuple[Occur, Query]
Filters = dict[str, list[Clause]]
# Which words were read as typos, the total, "did you mean" and the facets as JSON: see _summarise.
Summary = tuple[tuple[str, ...], int, str | None, bytes]
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


def _query(text: Query | None, filters: Filters) -> Query:
    clauses = [clause for group in filters.values() for clause in group]
    if text is not None:
        clauses.insert(0, (Occur.Must, text))
    if all(occur == Occur.Must for occur, _ in clauses):
        return _all([q for _, q in clauses])
    if not any(occur == Occur.Must for occur, _ in clauses):  # only exclusions: of everything
        clauses.insert(0, (Occur.Must, Query.all_query()))
    return Query.boolean_query(clauses)


def _fuzzy_distance(word: str) -> int:
    return 1 if len(word) < 8 else 2


class SearchEngine:
    def __init__(self, index: SearchIndex) -> None:
        self.index = index
        self.schema = index.schema
        self._summaries = _Lru(FACET_CACHE_ENTRIES)

    def run_json(self, p: SearchParams, generation: str = "") -> bytes:
        """The answer as the JSON of a `SearchResult`, assembled from pre-serialised parts.

        Each hit's entry is stored in the index as JSON (the `card` field) and the facets are kept
        as JSON, so a search builds no model objects: at a few hundred searches a second per
        process, that Python work would hold the GIL about as long as the index work takes.
        """
        searcher = self.index.searcher()
        words = _words(p.q)
        filters, category_level = self._filters(searcher, p, with_words=bool(words))
        key = (generation, tuple(words), _filter_key(p), p.facet_size)
        summary = self._summaries.get(key)
        if summary is None:
            summary = self._summarise(searcher, words, filters, category_level, p)
            self._summaries.put(key, summary)
        typo_words, total, suggestion, facets_json = summary
        hits = self._page(searcher, words, frozenset(typo_words), filters, p) if total else []
        cards = b",".join(_card(searcher.doc(address)) for _, address in hits)
        return b"".join(
            (
                b'{"items":[',
                cards,
                b'],"total":%d,"page":%d,"per_page":%d,"facets":' % (total, p.page, p.per_page),
                facets_json,
                b',"did_you_mean":',
                orjson.dumps(suggestion),
                b',"typo_tolerant":true}' if typo_words else b',"typo_tolerant":false}',
            )
        )

    def _summarise(
        self, searcher: tantivy.Searcher, words: list[str], filters: Filters, category_level: int, p: SearchParams
    ) -> Summary:
        """What does not depend on the page or the sort: which words were read as typos, the total and the facets.

        The total comes from the facet pass (every product has exactly one price:stars value), so the
        page search itself need not count, and a cached summary makes paging cost one search.
        """
        text = self._match_query(words) if words else None
        facets, total = self._facets(searcher, text, filters, category_level, p)
        typo_words: frozenset[str] = frozenset()
        suggestion = None
        # Few hits because of a word the index has never seen: try near spellings of those words only
        # (few hits with known words just means narrow filters, and fuzzy automata are not free).
        unknown = {w for w in words if not known(searcher, w)} if words and total < FEW_RESULTS else set()
        if unknown:
            fuzzy_words = frozenset(w for w in unknown if len(w) >= FUZZY_MIN_LENGTH)
            if fuzzy_words:
                fuzzy = self._match_query(words, fuzzy=fuzzy_words)
                fuzzy_facets, fuzzy_total = self._facets(searcher, fuzzy, filters, category_level, p)
                if fuzzy_total > total:
                    facets, total, typo_words = fuzzy_facets, fuzzy_total, fuzzy_words
            suggestion = did_you_mean(searcher, words)
        # Plain strings, bytes and numbers in a tuple: one object for the garbage collector (see _Lru).
        return tuple(sorted(typo_words)), total, suggestion, orjson.dumps(facets)

    def _text_query(self, words: list[str], *, fuzzy: frozenset[str] = frozenset()) -> Query:
        """Every word must match somewhere (title counts most); for words in `fuzzy`, near spellings count too."""
        per_word: list[Query] = []
        for word in words:
            stem = _stem(word)
            parts = [
                Query.boost_query(Query.term_query(self.schema, field, stem if stemmed else word), boost)
                for field, boost, stemmed in FIELD_BOOSTS
            ]
            per_word.append(Query.boolean_query([(Occur.Should, q) for q in parts + self._near(word, fuzzy)]))
        return _all(per_word)

    def _match_query(self, words: list[str], *, fuzzy: frozenset[str] = frozenset()) -> Query:
        """The documents `_text_query` finds, without scores, from two posting lists per word instead of four.

        `match_text` holds the words of every stemmed field that `_text_query` searches, so "the stem
        is in one of them" is one lookup. Counting facets and sorting on a column need no scores, and
        merging fewer, denser lists costs about a third less.
        """
        per_word: list[Query] = []
        for word in words:
            parts = [
                Query.term_query(self.schema, "match_text", _stem(word)),
                Query.term_query(self.schema, "brand_text", word),
                *self._near(word, fuzzy),
            ]
            per_word.append(Query.boolean_query([(Occur.Should, q) for q in parts]))
        return _all(per_word)

    def _near(self, word: str, fuzzy: frozenset[str]) -> list[Query]:
        if word not in fuzzy:
            return []
        distance = _fuzzy_distance(word)
        return [
            Query.boost_query(Query.fuzzy_term_query(self.schema, "title_plain", word, distance), 1.0),
            Query.boost_query(Query.fuzzy_term_query(self.schema, "brand_text", word, distance), 0.8),
        ]

    def _filters(self, searcher: tantivy.Searcher, p: SearchParams, *, with_words: bool) -> tuple[Filters, int]:
        """The filters as clauses of the final boolean query, by name, and the category facet's level.

        With words, the text query drives the intersection and a filter only has to answer "is this
        document in?" for the documents it proposes. A posting list answers that by skipping to them;
        a fast-field range scans its column over the whole span between them, which for a common word
        is the whole column (a few milliseconds on a million products whatever the text matched). So
        dense filters are given as exclusions of a small complement where one exists: "in stock" as
        not out of stock, "at least m stars" as not in any bucket below m. Without words the filter
        itself drives, and the inverted index is the cheaper way to enumerate what it lets through.
        """
        inverted = not with_words
        filters: Filters = {}
        facet_level = 0
        if p.category:
            level = next(
                (n for n in range(CATEGORY_LEVELS) if searcher.doc_freq("category_ids", f"{n}:{p.category}") > 0), None
            )
            if level is None:  # no product in that category (or no such category): nothing matches
                filters["category"] = [(Occur.Must, Query.empty_query())]
            else:
                filters["category"] = [
                    (Occur.Must, Query.term_query(self.schema, "category_ids", f"{level}:{p.category}"))
                ]
                facet_level = min(level + 1, CATEGORY_LEVELS - 1)
        if p.brand:
            brands = [b.lower() for b in p.brand]
            filters["brand"] = [(Occur.Must, Query.term_set_query(self.schema, "brand_key", brands))]
        if p.price_min is not None or p.price_max is not None:
            price = Query.range_query(
                self.schema,
                "price",
                FieldType.Unsigned,
                lower_bound=p.price_min,
                upper_bound=p.price_max,
                use_inverted_index=inverted,
            )
            filters["price"] = [(Occur.Must, price)]
        if p.rating_min:  # every product has a rating of at least 0
            whole = int(p.rating_min)
            if with_words and whole == p.rating_min and whole < RATING_BUCKETS:  # whole stars below the top bucket
                filters["rating"] = [
                    (Occur.MustNot, Query.term_query(self.schema, "rating_bucket", str(b))) for b in range(whole)
                ]
            else:
                rating = Query.range_query(
                    self.schema,
                    "rating",
                    FieldType.Float,
                    lower_bound=float(p.rating_min),
                    upper_bound=None,
                    use_inverted_index=inverted,
                )
                filters["rating"] = [(Occur.Must, rating)]
        if p.in_stock and "price" not in filters:  # only in-stock products have a price: implied
            in_stock = not with_words
            filters["in_stock"] = [
                (Occur.Must if in_stock else Occur.MustNot, Query.term_query(self.schema, "in_stock", in_stock))
            ]
        return filters, facet_level

    def _page(
        self,
        searcher: tantivy.Searcher,
        words: list[str],
        typo_words: frozenset[str],
        filters: Filters,
        p: SearchParams,
    ) -> list[tuple[Any, tantivy.DocAddress]]:
        offset, limit = (p.page - 1) * p.per_page, p.per_page
        if p.sort == "relevance" and words:  # the one order that needs scores
            query = _query(self._text_query(words, fuzzy=typo_words), filters)
            return searcher.search(query, limit, count=False, offset=offset).hits
        query = _query(self._match_query(words, fuzzy=typo_words) if words else None, filters)
        # Browsing without words "by relevance": most-reviewed first.
        field, order = SORTS.get(p.sort, ("rating_count", Order.Desc))
        return searcher.search(query, limit, count=False, order_by_field=field, offset=offset, order=order).hits

    def _facets(
        self,
        searcher: tantivy.Searcher,
        text: Query | None,
        filters: Filters,
        category_level: int,
        p: SearchParams,
    ) -> tuple[dict[str, Any], int]:
        """The facets of what matches, and how many products match (every product has one price:stars value)."""
        size = p.facet_size
        # Candidates per segment: with up to this many brands (or categories) the top-N counts are exact
        # over several segments too (a full rebuild leaves one; the live indexer adds small ones).
        segment_size = max(size * 5, 1000)
        brand = {"terms": {"field": "brand", "size": size, "segment_size": segment_size}}
        aggs: dict[str, dict[str, Any]] = {
            "category": {"terms": {"field": f"cat_l{category_level}", "size": size, "segment_size": segment_size}},
            # Every (price bucket or NO_PRICE, stars) pair: both facets and the total from one column.
            "price_rating": {"terms": {"field": "price_rating", "size": (len(PRICE_EDGES) + 1) * RATING_BUCKETS}},
        }
        if "brand" not in filters:
            aggs["brand"] = brand
        results = searcher.aggregate(_query(text, filters), aggs)
        if "brand" in filters:
            without = {k: v for k, v in filters.items() if k != "brand"}
            results.update(searcher.aggregate(_query(text, without), {"brand": brand}))
        by_price, by_star = _price_and_stars(results["price_rating"])
        # Plain data in the order of the `Facets` model's fields: serialised, it is what the model gives.
        facets = {
            "category": [_category_count(b) for b in results["category"]["buckets"]],
            "brand": [{"value": b["key"], "count": b["doc_count"]} for b in results["brand"]["buckets"]],
            "price": _price_buckets(by_price),
            "rating": _rating_buckets(by_star),
        }
        return facets, sum(by_star.values())


def _card(doc: tantivy.Document) -> bytes:
    card = doc.get_first("card")
    if not isinstance(card, bytes):  # indexed before cards existed: the schema version would have changed
        raise TypeError(f"search document {doc.get_first('id')!r} has no card")
    return card


def _stem(word: str) -> str:
    stems = STEMMED.analyze(word)
    return stems[0] if stems else word


def _words(q: str) -> list[str]:
    words = PLAIN.analyze(q)[:MAX_WORDS]
    meaningful = [w for w in words if w not in STOPWORDS]
    return meaningful or words


def _filter_key(p: SearchParams) -> tuple[Any, ...]:
    brands = tuple(sorted({b.lower() for b in p.brand}))
    return (p.category, brands, p.price_min, p.price_max, p.rating_min, p.in_stock)


def _price_and_stars(agg: dict[str, Any]) -> tuple[dict[int, int], dict[int, int]]:
    """Counts by price bucket (products with a price) and by whole stars (every product) from "price:stars" keys."""
    by_price: dict[int, int] = {}
    by_star: dict[int, int] = {}
    for bucket in agg["buckets"]:
        price, stars = str(bucket["key"]).split(":")
        count = int(bucket["doc_count"])
        by_star[int(stars)] = by_star.get(int(stars), 0) + count
        if price != NO_PRICE:
            by_price[int(price)] = by_price.get(int(price), 0) + count
    return by_price, by_star


def _money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": CURRENCY}


def _category_count(bucket: dict[str, Any]) -> dict[str, Any]:
    cat_id, slug, name = str(bucket["key"]).split(SEP, 2)
    return {"value": cat_id, "count": bucket["doc_count"], "slug": slug, "name": name}


def _price_buckets(counts: dict[int, int]) -> list[dict[str, Any]]:
    edges = (*PRICE_EDGES, None)
    return [
        {"from": _money(low), "to": None if high is None else _money(high), "count": counts.get(i, 0)}
        for i, (low, high) in enumerate(zip(edges, edges[1:], strict=False))
        if low is not None
    ]


def _rating_buckets(counts: dict[int, int]) -> list[dict[str, int]]:
    # Buckets are whole stars (4 holds 4 and up); "at least m stars" is the sum from m upwards.
    return [{"min": m, "count": sum(c for star, c in counts.items() if star >= m)} for m in RATING_MINS]


class _Lru:
    """A small thread-safe LRU map of search summaries (searches run in worker threads).

    Facets are kept as JSON text, not models: a full cache holds thousands of entries, and as
    pydantic models (some 90 objects each) they would make every full garbage collection walk
    hundreds of thousands of objects: pauses of 100-250 ms in a web process. A tuple of strings
    and numbers is one object the collector soon stops tracking; parsing the facets back costs a
    few tens of microseconds.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[Any, Summary] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Summary | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Summary) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
