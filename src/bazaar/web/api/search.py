"""Search endpoint: GET /search answers from the index (cached bytes with an ETag), never from the database."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from bazaar.kernel.caching import etag_matches
from bazaar.kernel.money import MAX_AMOUNT
from bazaar.search.schemas import SearchParams, SearchResult, Sort
from bazaar.search.service import SearchService

router = APIRouter(tags=["search"])


@router.get(
    "/search",
    response_class=Response,
    responses={200: {"model": SearchResult, "description": "Matching products with facet counts"}},
)
async def search(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str | None, Query(max_length=32, description="a category id; includes its descendants")] = None,
    brand: Annotated[list[str] | None, Query(max_length=50, description="brand name; repeat for several")] = None,
    price_min: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT, description="minor units, inclusive")] = None,
    price_max: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT, description="minor units, inclusive")] = None,
    rating_min: Annotated[float | None, Query(ge=0, le=5)] = None,
    in_stock: bool = False,
    sort: Sort = "relevance",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    facet_size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Response:
    params = SearchParams(
        q=q,
        category=category or None,
        brand=tuple(b for b in (brand or []) if b),
        price_min=price_min,
        price_max=price_max,
        rating_min=rating_min,
        in_stock=in_stock,
        sort=sort,
        page=page,
        per_page=per_page,
        facet_size=facet_size,
    )
    service: SearchService = request.app.state.container.extras["search"]
    cached = await service.search_json(params)
    headers = {"ETag": cached.etag, "Cache-Control": "public, max-age=2"}
    if etag_matches(request.headers.get("if-none-match"), cached.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=cached.body, media_type="application/json", headers=headers)
