"""'Did you mean': the closest indexed word to each unknown query word, by edit distance and frequency."""

from __future__ import annotations

import tantivy

DICTIONARY_FIELDS = ("title_plain", "brand_text")
MAX_CANDIDATES = 5000


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours costs 1); answers limit + 1 past the limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def max_typos(word: str) -> int:
    return 1 if len(word) <= 5 else 2


def known(searcher: tantivy.Searcher, word: str) -> bool:
    return any(searcher.doc_freq(field, word) > 0 for field in DICTIONARY_FIELDS)


def correction(searcher: tantivy.Searcher, word: str) -> str | None:
    limit = max_typos(word)
    best: tuple[int, int, str] | None = None
    # Typos rarely hit the first letters; looking only under them keeps the candidate list short.
    prefix = word[:2] if len(word) >= 6 else word[:1]
    for field in DICTIONARY_FIELDS:
        for term, freq in searcher.terms_with_prefix(field, prefix, limit=MAX_CANDIDATES):
            if abs(len(term) - len(word)) > limit:
                continue
            distance = edit_distance(word, term, limit)
            if distance <= limit and (best is None or (distance, -freq) < best[:2]):
                best = (distance, -freq, term)
    return best[2] if best else None


def did_you_mean(searcher: tantivy.Searcher, words: list[str]) -> str | None:
    out: list[str] = []
    changed = False
    for word in words:
        fixed = None if len(word) < 3 or word.isdigit() or known(searcher, word) else correction(searcher, word)
        changed = changed or fixed is not None
        out.append(fixed or word)
    return " ".join(out) if changed else None
