"""Running one search on the index: text matching with typo tolerance, filters, sorts, pages and facets.

Synchronous and CPU-bound (Tantivy releases the GIL), so the service runs it in a thread.
Facets are disjunctive: a facet whose own filter is set is counted without that filter,
so picking one brand still shows how many results the other brands would give.
"""

from __future__ import annotations

from typing import Any

import tantivy
from tantivy import FieldType, Occur, Order, Query

from bazaar.catalog.schemas import CategoryRef, MoneyModel
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
PRICE_EDGES = (0, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000)  # cents
RATING_MINS = (4, 3, 2, 1)
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

    def run(self, p: SearchParams) -> SearchResult:
        searcher = self.index.searcher()
        words = PLAIN.analyze(p.q)[:MAX_WORDS]
        filters, category_level = self._filters(searcher, p)
        text = self._text_query(words) if words else None
        result = self._page(searcher, text, filters, p)
        typo_tolerant, suggestion = False, None
        # Few hits because of a word the index has never seen: try near spellings of those words only
        # (few hits with known words just means narrow filters, and fuzzy automata are not free).
        unknown = {w for w in words if not known(searcher, w)} if words and _count(result) < FEW_RESULTS else set()
        if unknown:
            fuzzy_words = {w for w in unknown if len(w) >= FUZZY_MIN_LENGTH}
            if fuzzy_words:
                fuzzy = self._text_query(words, fuzzy=fuzzy_words)
                fuzzy_result = self._page(searcher, fuzzy, filters, p)
                if _count(fuzzy_result) > _count(result):
                    text, result, typo_tolerant = fuzzy, fuzzy_result, True
            suggestion = did_you_mean(searcher, words)
        return SearchResult(
            items=[self._item(searcher.doc(address)) for _, address in result.hits],
            total=_count(result),
            page=p.page,
            per_page=p.per_page,
            facets=self._facets(searcher, text, filters, category_level, p),
            did_you_mean=suggestion,
            typo_tolerant=typo_tolerant,
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

    def _filters(self, searcher: tantivy.Searcher, p: SearchParams) -> tuple[dict[str, Query], int]:
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
                self.schema, "price", FieldType.Unsigned, lower_bound=p.price_min, upper_bound=p.price_max
            )
        if p.rating_min is not None:
            filters["rating"] = Query.range_query(
                self.schema, "rating", FieldType.Float, lower_bound=float(p.rating_min), upper_bound=None
            )
        if p.in_stock:
            filters["in_stock"] = Query.term_query(self.schema, "in_stock", True)
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
        aggs: dict[str, dict[str, Any]] = {
            "category": {"terms": {"field": f"cat_l{category_level}", "size": size, "segment_size": segment_size}},
            "brand": {"terms": {"field": "brand", "size": size, "segment_size": segment_size}},
            "price": {"range": {"field": "price", "ranges": _price_ranges()}},
            "rating": {"range": {"field": "rating", "ranges": _rating_ranges()}},
        }
        base = [q for q in (text, *filters.values()) if q is not None]
        # One aggregation for every facet whose own filter is not set, one more per facet whose filter is.
        own = {"brand": "brand", "price": "price", "rating": "rating"}
        shared = {name: agg for name, agg in aggs.items() if own.get(name) not in filters}
        results = searcher.aggregate(_all(base), shared) if shared else {}
        for name in aggs.keys() - shared.keys():
            without = [q for q in (text, *(v for k, v in filters.items() if k != own[name])) if q is not None]
            results.update(searcher.aggregate(_all(without), {name: aggs[name]}))
        return Facets(
            category=[_category_count(b) for b in results["category"]["buckets"]],
            brand=[ValueCount(value=b["key"], count=b["doc_count"]) for b in results["brand"]["buckets"]],
            price=_price_buckets(results["price"]["buckets"]),
            rating=_rating_buckets(results["rating"]["buckets"]),
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


def _price_ranges() -> list[dict[str, int]]:
    ranges: list[dict[str, int]] = []
    for low, high in zip(PRICE_EDGES, PRICE_EDGES[1:], strict=False):
        ranges.append({"from": low, "to": high} if low else {"to": high})
    ranges.append({"from": PRICE_EDGES[-1]})
    return ranges


def _rating_ranges() -> list[dict[str, float]]:
    return [{"to": 1.0}, *({"from": float(m), "to": float(m + 1)} for m in (1, 2, 3)), {"from": 4.0}]


def _category_count(bucket: dict[str, Any]) -> CategoryCount:
    cat_id, slug, name = str(bucket["key"]).split(SEP, 2)
    return CategoryCount(value=cat_id, slug=slug, name=name, count=bucket["doc_count"])


def _price_buckets(buckets: list[dict[str, Any]]) -> list[PriceBucket]:
    out = []
    for bucket in buckets:
        low = int(bucket.get("from", 0) or 0)
        high = bucket.get("to")
        out.append(
            PriceBucket(
                from_=MoneyModel.of(low),
                to=None if high is None else MoneyModel.of(int(high)),
                count=bucket["doc_count"],
            )
        )
    return out


def _rating_buckets(buckets: list[dict[str, Any]]) -> list[RatingBucket]:
    # Buckets come as [<1, 1-2, 2-3, 3-4, >=4]; "at least m stars" is the sum from m upwards.
    counts = [b["doc_count"] for b in buckets]
    return [RatingBucket(min=m, count=sum(counts[m:])) for m in RATING_MINS]
