"""Review endpoints: verified buyers write, edit and delete reviews; everyone reads them; operators hide one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from bazaar.admin import service as admin_service
from bazaar.reviews import service
from bazaar.reviews.schemas import ReviewCreate, ReviewPage, ReviewRead, ReviewSort, ReviewUpdate
from bazaar.web.api.deps import CurrentAdmin, CurrentUser, ReadUowDep, UowDep

router = APIRouter(tags=["reviews"])


class HideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=300)


@router.post("/products/{product_id}/reviews", status_code=201, response_model=ReviewRead)
async def write_review(product_id: str, body: ReviewCreate, principal: CurrentUser, uow: UowDep) -> ReviewRead:
    return await service.write_review(
        uow=uow, author_id=principal.user_id, author_name=principal.name, product_id=product_id, data=body
    )


@router.get("/products/{product_id}/reviews", response_model=ReviewPage)
async def list_reviews(
    product_id: str,
    uow: ReadUowDep,
    sort: ReviewSort = "newest",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ReviewPage:
    return await service.list_reviews(uow=uow, product_id=product_id, sort=sort, page=page, per_page=per_page)


@router.patch("/reviews/{review_id}", response_model=ReviewRead)
async def edit_review(review_id: str, body: ReviewUpdate, principal: CurrentUser, uow: UowDep) -> ReviewRead:
    return await service.edit_review(uow=uow, author_id=principal.user_id, review_id=review_id, data=body)


@router.delete("/reviews/{review_id}", status_code=204)
async def delete_review(review_id: str, principal: CurrentUser, uow: UowDep) -> Response:
    await service.delete_review(uow=uow, author_id=principal.user_id, review_id=review_id)
    return Response(status_code=204)


@router.post("/admin/reviews/{review_id}/hide", response_model=ReviewRead, tags=["admin"])
async def hide_review(review_id: str, admin: CurrentAdmin, uow: UowDep, body: HideIn | None = None) -> ReviewRead:
    reason = body.reason if body else ""
    review = await service.hide_review(uow=uow, review_id=review_id, reason=reason)
    admin_service.audit(uow, admin, "hide_review", "review", review_id, reason)
    await uow.commit()
    return review
