"""Review errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, Forbidden, NotFound


class NotAVerifiedBuyer(Forbidden):
    """Only buyers who have received this product can review it."""

    code = "not_a_verified_buyer"


class ReviewExists(Conflict):
    """You have already reviewed this product; edit your review instead."""

    code = "review_exists"


class ReviewNotFound(NotFound):
    """No such review."""

    code = "review_not_found"


class NotAReviewAuthor(Forbidden):
    """Only its author can change or delete a review."""

    code = "not_review_author"
