"""Catalog endpoints: the category tree, product pages (cached bytes with ETags), sellers' products and offers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from bazaar.catalog import queries, service
from bazaar.catalog.page_cache import PAGE_TTL_SECONDS, ProductPages
from bazaar.catalog.schemas import (
    CategoryNode,
    OfferCreate,
    OfferPage,
    OfferUpdate,
    ProductCreate,
    ProductPage,
    SellerOfferRead,
)
from bazaar.kernel.caching import etag_matches
from bazaar.web.api.deps import CurrentSeller, ReadUowDep, ReplicaUowDep, UowDep, bearer_token
from bazaar.web.views import remember_view_by_token

router = APIRouter(tags=["catalog"])
CACHE_CONTROL = f"public, max-age={int(PAGE_TTL_SECONDS)}"


@router.get("/categories", response_model=list[CategoryNode])
async def categories(uow: ReadUowDep) -> list[CategoryNode]:
    return await queries.category_tree(uow=uow)


@router.post("/products", status_code=201, response_model=ProductPage)
async def create_product(body: ProductCreate, seller: CurrentSeller, uow: UowDep) -> ProductPage:
    assert seller.seller_id is not None  # CurrentSeller guarantees it
    return await service.create_product(uow=uow, seller_id=seller.seller_id, data=body)


@router.get(
    "/products/{product_id}",
    response_class=Response,
    responses={200: {"model": ProductPage, "description": "The product page"}, 304: {"description": "Not modified"}},
)
async def product_page(product_id: str, request: Request) -> Response:
    # Served from already-serialised bytes: no validation or JSON encoding on a cache hit.
    pages: ProductPages = request.app.state.container.extras["product_pages"]
    cached = await pages.get(product_id)
    headers = {"ETag": cached.etag, "Cache-Control": CACHE_CONTROL}
    token = bearer_token(request)
    if token is not None:  # the fast path does the same for the requests it answers
        await remember_view_by_token(request.app.state.container, token, product_id)
    if etag_matches(request.headers.get("if-none-match"), cached.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=cached.body, media_type="application/json", headers=headers)


@router.post("/sellers/me/offers", status_code=201, response_model=SellerOfferRead)
async def create_offer(body: OfferCreate, seller: CurrentSeller, uow: UowDep) -> SellerOfferRead:
    assert seller.seller_id is not None
    return await service.create_offer(uow=uow, seller_id=seller.seller_id, data=body)


@router.patch("/sellers/me/offers/{offer_id}", response_model=SellerOfferRead)
async def update_offer(offer_id: str, body: OfferUpdate, seller: CurrentSeller, uow: UowDep) -> SellerOfferRead:
    assert seller.seller_id is not None
    seller_id = seller.seller_id
    return await uow.run(lambda: service.update_offer(uow=uow, seller_id=seller_id, offer_id=offer_id, data=body))


@router.get("/sellers/me/offers", response_model=OfferPage)
async def my_offers(
    seller: CurrentSeller,
    uow: ReplicaUowDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OfferPage:
    assert seller.seller_id is not None
    return await queries.seller_offers(uow=uow, seller_id=seller.seller_id, page=page, per_page=per_page)
