"""Review pages (write or edit your review of a product you received, delete it) and the product page's other
merchandising parts: its reviews panel and its recommendation shelves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from bazaar.catalog.page_cache import ProductPages
from bazaar.catalog.schemas import ProductPage
from bazaar.kernel.errors import DomainError
from bazaar.recommendations import service as recommendations
from bazaar.reviews import service as reviews
from bazaar.reviews.schemas import ReviewCreate, ReviewSort, ReviewUpdate
from bazaar.search.service import SearchService
from bazaar.web.storefront.pages.common import Form, PageDep, PageRoute, field_errors, whole_number

router = APIRouter(route_class=PageRoute, include_in_schema=False)


async def _product(page: PageDep, product_id: str) -> ProductPage:
    pages: ProductPages = page.container.extras["product_pages"]
    return ProductPage.model_validate_json((await pages.get(product_id)).body)


@router.get("/p/{product_id}/review")
async def review_form(product_id: str, page: PageDep) -> Response:
    user = page.require_user()
    product = await _product(page, product_id)
    async with page.container.read_uow() as uow:
        mine = await reviews.my_review(uow=uow, author_id=user.user_id, product_id=product_id)
        allowed = mine is not None or product_id in await reviews.can_review(
            uow=uow, author_id=user.user_id, product_ids=[product_id]
        )
    if not allowed:
        return page.redirect(f"/p/{product_id}", notice="Only buyers who have received this product can review it.")
    typed = {"rating": str(mine.rating), "title": mine.title, "body": mine.body} if mine else {}
    return await page.render("review_form.html", product=product, mine=mine, typed=typed, errors={})


@router.post("/p/{product_id}/review")
async def save_review(product_id: str, page: PageDep, form: Form) -> Response:
    user = page.require_user()
    typed = {key: str(form.get(key) or "") for key in ("rating", "title", "body")}
    review_id = str(form.get("review_id") or "")
    try:
        async with page.container.uow() as uow:
            if review_id:
                rating = whole_number(typed["rating"]) or 0
                data = ReviewUpdate(rating=rating, title=typed["title"], body=typed["body"])
                await reviews.edit_review(uow=uow, author_id=user.user_id, review_id=review_id, data=data)
            else:
                rating = whole_number(typed["rating"]) or 0
                create = ReviewCreate(rating=rating, title=typed["title"], body=typed["body"])
                await reviews.write_review(
                    uow=uow, author_id=user.user_id, author_name=user.name, product_id=product_id, data=create
                )
    except (ValidationError, ValueError) as exc:
        errors = field_errors(exc) if isinstance(exc, ValidationError) else {"rating": "choose 1 to 5 stars"}
        product = await _product(page, product_id)
        async with page.container.read_uow() as uow:
            mine = await reviews.my_review(uow=uow, author_id=user.user_id, product_id=product_id)
        return await page.render(
            "review_form.html", status_code=422, product=product, mine=mine, typed=typed, errors=errors
        )
    except DomainError as exc:
        return page.redirect(f"/p/{product_id}", notice=exc.message)
    return page.redirect(f"/p/{product_id}#reviews", notice="Thank you: your review is published.")


@router.post("/reviews/{review_id}/delete")
async def delete_review(review_id: str, page: PageDep, form: Form) -> Response:
    user = page.require_user()
    back = str(form.get("product_id") or "")[:32]
    try:
        async with page.container.uow() as uow:
            await reviews.delete_review(uow=uow, author_id=user.user_id, review_id=review_id)
    except DomainError as exc:
        return page.redirect(f"/p/{back}" if back else "/", notice=exc.message)
    return page.redirect(f"/p/{back}#reviews" if back else "/", notice="Your review is deleted.")


REVIEW_SORTS = {"newest": "Newest", "rating_high": "Highest rated", "rating_low": "Lowest rated"}


async def review_panel(page: PageDep, product_id: str) -> dict[str, Any]:
    """What the product page shows of its reviews: a first page in the chosen order, and the viewer's own."""
    asked = page.request.query_params.get("reviews", "newest")
    sort: ReviewSort = asked if asked in REVIEW_SORTS else "newest"  # type: ignore[assignment]
    mine, can_write = None, False
    async with page.container.read_uow() as uow:
        listing = await reviews.list_reviews(uow=uow, product_id=product_id, sort=sort, page=1, per_page=10)
        if page.principal is not None:
            mine = await reviews.my_review(uow=uow, author_id=page.principal.user_id, product_id=product_id)
            can_write = mine is None and bool(
                await reviews.can_review(uow=uow, author_id=page.principal.user_id, product_ids=[product_id])
            )
    return {"reviews": listing, "review_sorts": REVIEW_SORTS, "my_review": mine, "can_review": can_write}


async def shelves(page: PageDep, product_id: str) -> dict[str, Any]:
    """The product page's "bought together" and "similar" shelves."""
    search: SearchService = page.container.extras["search"]
    async with page.container.read_uow() as uow:
        recs = await recommendations.for_product(uow=uow, search=search, product_id=product_id)
    return {"bought_together": recs.bought_together, "similar": recs.similar}
