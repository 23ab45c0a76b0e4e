"""Review use cases: verified buyers write, edit and delete their review; operators hide one; the product's rating
(average, count, histogram) is recomputed from the published reviews by an event consumer."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bazaar.catalog import service as catalog
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.orders import queries as orders
from bazaar.reviews.errors import NotAReviewAuthor, NotAVerifiedBuyer, ReviewExists, ReviewNotFound
from bazaar.reviews.events import ReviewChanged
from bazaar.reviews.models import Review
from bazaar.reviews.schemas import ReviewCreate, ReviewPage, ReviewRead, ReviewSort, ReviewUpdate

SORTS = {
    "newest": (Review.created_at.desc(), Review.id.desc()),
    "rating_high": (Review.rating.desc(), Review.created_at.desc(), Review.id.desc()),
    "rating_low": (Review.rating.asc(), Review.created_at.desc(), Review.id.desc()),
}


def display_name(name: str) -> str:
    """ "Ada Lovelace" shows as "Ada L.": enough to tell reviewers apart, not a buyer's full name."""
    words = name.split()
    if not words:
        return "A buyer"
    return words[0][:40] if len(words) == 1 else f"{words[0][:40]} {words[-1][0]}."


def review_read(review: Review) -> ReviewRead:
    return ReviewRead(
        id=review.id,
        product_id=review.product_id,
        author=review.author_name,
        rating=review.rating,
        title=review.title,
        body=review.body,
        verified=review.verified,
        status="hidden" if review.status == "hidden" else "published",
        created_at=review.created_at,
        updated_at=review.updated_at,
    )


async def write_review(
    *, uow: UnitOfWork, author_id: str, author_name: str, product_id: str, data: ReviewCreate
) -> ReviewRead:
    """A buyer who received the product reviews it, once."""
    await catalog.ensure_product(uow=uow, product_id=product_id)
    if product_id not in await orders.received_product_ids(uow=uow, buyer_id=author_id, product_ids=[product_id]):
        raise NotAVerifiedBuyer(product_id=product_id)
    existing = await _by_author(uow, author_id, product_id)
    if existing is not None:
        raise ReviewExists(review_id=existing.id)
    review = Review(
        product_id=product_id,
        author_id=author_id,
        author_name=display_name(author_name),
        rating=data.rating,
        title=data.title,
        body=data.body,
        verified=True,
    )
    uow.session.add(review)
    try:
        await uow.flush()
    except IntegrityError as exc:  # the same buyer's second request, at the same moment
        raise ReviewExists(product_id=product_id) from exc
    uow.emit(ReviewChanged(product_id=product_id, review_id=review.id, change="written"))
    result = review_read(review)
    await uow.commit()
    return result


async def _by_author(uow: UnitOfWork, author_id: str, product_id: str) -> Review | None:
    query = select(Review).where(Review.product_id == product_id, Review.author_id == author_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def _own(uow: UnitOfWork, author_id: str, review_id: str) -> Review:
    review = await uow.session.get(Review, review_id, with_for_update=uow.dialect == "postgresql")
    if review is None:
        raise ReviewNotFound(review_id=review_id)
    if review.author_id != author_id:
        raise NotAReviewAuthor(review_id=review_id)
    return review


async def edit_review(*, uow: UnitOfWork, author_id: str, review_id: str, data: ReviewUpdate) -> ReviewRead:
    review = await _own(uow, author_id, review_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for field, value in changes.items():
        setattr(review, field, value)
    if changes:
        review.updated_at = utcnow()
        uow.emit(ReviewChanged(product_id=review.product_id, review_id=review.id, change="edited"))
    await uow.flush()
    result = review_read(review)
    await uow.commit()
    return result


async def delete_review(*, uow: UnitOfWork, author_id: str, review_id: str) -> None:
    review = await _own(uow, author_id, review_id)
    await uow.session.delete(review)
    uow.emit(ReviewChanged(product_id=review.product_id, review_id=review.id, change="deleted"))
    await uow.commit()


async def hide_review(*, uow: UnitOfWork, review_id: str, reason: str, hidden: bool = True) -> ReviewRead:
    """An operator hides a review (or shows it again). In the caller's transaction (the operator console records
    its audit entry beside it); the product's rating follows through the event. Hiding twice changes nothing."""
    review = await uow.session.get(Review, review_id, with_for_update=uow.dialect == "postgresql")
    if review is None:
        raise ReviewNotFound(review_id=review_id)
    status = "hidden" if hidden else "published"
    if review.status != status:
        review.status, review.hidden_reason = status, (reason[:300] or None) if hidden else None
        review.updated_at = utcnow()
        uow.emit(ReviewChanged(product_id=review.product_id, review_id=review.id, change=status))
        await uow.flush()
    return review_read(review)


async def list_reviews(*, uow: UnitOfWork, product_id: str, sort: ReviewSort, page: int, per_page: int) -> ReviewPage:
    """A product's published reviews, paginated."""
    await catalog.ensure_product(uow=uow, product_id=product_id)
    shown = (Review.product_id == product_id, Review.status == "published")
    total = (await uow.session.execute(select(func.count()).where(*shown))).scalar_one()
    rows = await uow.session.execute(
        select(Review).where(*shown).order_by(*SORTS[sort]).offset((page - 1) * per_page).limit(per_page)
    )
    items = [review_read(r) for r in rows.scalars()]
    return ReviewPage(items=items, total=int(total), page=page, per_page=per_page, sort=sort)


async def my_review(*, uow: UnitOfWork, author_id: str, product_id: str) -> ReviewRead | None:
    review = await _by_author(uow, author_id, product_id)
    return review_read(review) if review is not None else None


async def can_review(*, uow: UnitOfWork, author_id: str, product_ids: list[str]) -> set[str]:
    """Which of these products the buyer may review now: received, and not reviewed yet."""
    received = await orders.received_product_ids(uow=uow, buyer_id=author_id, product_ids=product_ids)
    if not received:
        return set()
    reviewed = await uow.session.execute(
        select(Review.product_id).where(Review.author_id == author_id, Review.product_id.in_(sorted(received)))
    )
    return received - set(reviewed.scalars())


async def refresh_product_rating(*, uow: UnitOfWork, product_id: str) -> None:
    """Recompute the product's rating from its published reviews and hand it to the catalog (search follows)."""
    rows = await uow.session.execute(
        select(Review.rating, func.count())
        .where(Review.product_id == product_id, Review.status == "published")
        .group_by(Review.rating)
    )
    histogram = {str(n): 0 for n in range(1, 6)}
    for rating, count in rows:
        histogram[str(int(rating))] = int(count)
    count = sum(histogram.values())
    average = sum(int(star) * n for star, n in histogram.items()) / count if count else 0.0
    await catalog.set_product_rating(uow=uow, product_id=product_id, average=average, count=count, histogram=histogram)


async def recent_reviews(*, uow: UnitOfWork, status: str | None, page: int, per_page: int) -> ReviewPage:
    """Every product's reviews, newest first (the operator's console), published, hidden or both."""
    where = [Review.status == status] if status else []
    total = int((await uow.session.execute(select(func.count()).select_from(Review).where(*where))).scalar_one())
    rows = await uow.session.execute(
        select(Review).where(*where).order_by(*SORTS["newest"]).offset((page - 1) * per_page).limit(per_page)
    )
    items = [review_read(r) for r in rows.scalars()]
    return ReviewPage(items=items, total=total, page=page, per_page=per_page, sort="newest")
