"""Recommendation endpoints: a product's shelves, and a logged-in buyer's "for you"."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.recommendations import service
from bazaar.recommendations.schemas import BuyerRecommendations, ProductRecommendations
from bazaar.search.service import SearchService
from bazaar.web.api.deps import ContainerDep, CurrentUser, ReadUowDep

router = APIRouter(tags=["recommendations"])


@router.get("/products/{product_id}/recommendations", response_model=ProductRecommendations)
async def for_product(product_id: str, uow: ReadUowDep, container: ContainerDep) -> ProductRecommendations:
    search: SearchService = container.extras["search"]
    return await service.for_product(uow=uow, search=search, product_id=product_id[:32])


@router.get("/me/recommendations", response_model=BuyerRecommendations)
async def for_me(principal: CurrentUser, uow: ReadUowDep) -> BuyerRecommendations:
    return await service.for_buyer(uow=uow, buyer_id=principal.user_id)
