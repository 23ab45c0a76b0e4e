"""Search errors."""

from __future__ import annotations

from bazaar.kernel.errors import DependencyUnavailable, ValidationFailed


class InvalidSearch(ValidationFailed):
    """The search parameters are not valid."""

    code = "invalid_search"


class ResultWindowExceeded(ValidationFailed):
    """Search results can be paged through only so far; narrow the search with filters instead."""

    code = "result_window_exceeded"


class SearchUnavailable(DependencyUnavailable):
    """The search index is not available right now."""

    code = "search_unavailable"
