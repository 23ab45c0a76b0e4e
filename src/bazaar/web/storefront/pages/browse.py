"""Browsing pages: home, categories, search with facets, and the product page."""

from __future__ import annotations

import math
from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bazaar.catalog import queries
from bazaar.catalog.page_cache import ProductPages
from bazaar.catalog.schemas import CategoryNode, ProductPage
from bazaar.flash_sales import service as flash_sales
from bazaar.kernel.errors import NotFound
from bazaar.kernel.money import MAX_AMOUNT
from bazaar.recommendations import service as recommendations
from bazaar.search.schemas import SearchParams, SearchResult, Sort
from bazaar.search.service import SearchService
from bazaar.web.storefront.pages.common import PageDep, PageRoute, whole_number
from bazaar.web.storefront.pages.reviews import review_panel, shelves
from bazaar.web.views import remember_view
from bazaar.wishlists import service as wishlists

router = APIRouter(route_class=PageRoute, include_in_schema=False)
SORTS: dict[str, str] = {
    "relevance": "Best match",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "rating": "Customer rating",
    "newest": "Newest",
}
PER_PAGE = 24


def _int(value: str | None) -> int | None:
    number = whole_number(value)
    return None if number is None else min(number, MAX_AMOUNT)


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is None or 0 <= number <= 5 else None


def search_params(request: Request, *, category: str | None = None) -> SearchParams:
    """The search in the URL, read leniently: a value a person mangled is dropped, not an error page."""
    q = request.query_params
    sort = q.get("sort", "relevance")
    return SearchParams(
        q=q.get("q", "")[:200],
        category=category or (q.get("category") or "")[:32] or None,
        brand=tuple(b[:120] for b in q.getlist("brand") if b)[:50],
        price_min=_int(q.get("price_min")),
        price_max=_int(q.get("price_max")),
        rating_min=_float(q.get("rating_min")),
        in_stock=q.get("in_stock") in {"1", "true", "on"},
        sort=cast(Sort, sort if sort in SORTS else "relevance"),
        page=min(max(_int(q.get("page")) or 1, 1), 10_000 // PER_PAGE),
        per_page=PER_PAGE,
    )


async def run_search(page: PageDep, params: SearchParams) -> SearchResult:
    service: SearchService = page.container.extras["search"]
    cached = await service.search_json(params)  # the API's cached bytes: a repeated query costs no index work
    return SearchResult.model_validate_json(cached.body)


def _flatten(nodes: list[CategoryNode], depth: int = 0) -> list[tuple[int, CategoryNode]]:
    out: list[tuple[int, CategoryNode]] = []
    for node in nodes:
        out.append((depth, node))
        out.extend(_flatten(node.children, depth + 1))
    return out


async def _categories(page: PageDep) -> list[CategoryNode]:
    async with page.container.read_uow() as uow:
        return await queries.category_tree(uow=uow)


@router.get("/")
async def home(page: PageDep) -> Response:
    tree = await _categories(page)
    popular = await run_search(page, SearchParams(sort="rating", in_stock=True, per_page=8))
    bargains = await run_search(page, SearchParams(sort="price_asc", in_stock=True, rating_min=4, per_page=8))
    for_you: list[Any] = []
    async with page.container.read_uow() as uow:
        deals = await queries.deals(uow=uow, limit=8)
        if page.principal is not None:
            for_you = (await recommendations.for_buyer(uow=uow, buyer_id=page.principal.user_id)).for_you
    calendar = page.container.flash_calendar
    flash_sales = await calendar.upcoming(limit=8)
    shown = [item.id for item in (*popular.items, *bargains.items)]
    flash = await calendar.for_products(shown)
    return await page.render(
        "home.html",
        categories=tree,
        popular=popular.items,
        bargains=bargains.items,
        deals=deals,
        flash=flash,
        flash_sales=flash_sales,
        for_you=for_you,
    )


def _links(params: SearchParams, base: str) -> dict[str, Any]:
    """URLs for every facet change, built from the current search, so each result page can be shared."""
    current = {
        "q": params.q or None,
        "category": params.category if base == "/search" else None,
        "brand": list(params.brand) or None,
        "price_min": params.price_min,
        "price_max": params.price_max,
        "rating_min": params.rating_min,
        "in_stock": "1" if params.in_stock else None,
        "sort": params.sort if params.sort != "relevance" else None,
    }

    def url(**changes: Any) -> str:
        merged = {**current, **changes}
        pairs = [(k, v) for k, v in merged.items() if v not in (None, "", [])]
        return base + "?" + urlencode(pairs, doseq=True) if pairs else base

    return {"url": url, "current": current}


async def _results_page(page: PageDep, params: SearchParams, *, base: str, heading: str, **extra: Any) -> Response:
    result = await run_search(page, params)
    pages = max(1, math.ceil(min(result.total, 10_000) / PER_PAGE))
    flash = await page.container.flash_calendar.for_products([item.id for item in result.items])
    return await page.render(
        "search.html",
        params=params,
        result=result,
        pages=pages,
        sorts=SORTS,
        heading=heading,
        base=base,
        flash=flash,
        **_links(params, base),
        **extra,
    )


@router.get("/search")
async def search(request: Request, page: PageDep) -> Response:
    params = search_params(request)
    heading = f"Results for “{params.q}”" if params.q else "All products"
    return await _results_page(page, params, base="/search", heading=heading)


@router.get("/c/{slug}")
async def category(slug: str, request: Request, page: PageDep) -> Response:
    found = next((node for _, node in _flatten(await _categories(page)) if node.slug == slug), None)
    if found is None:
        raise NotFound(f"There is no category called {slug!r}.")
    params = search_params(request, category=found.id)
    return await _results_page(page, params, base=f"/c/{slug}", heading=found.name, category=found)


def _sku_label(attributes: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in attributes.items()) or "Standard"


@router.get("/p/{product_id}")
async def product(product_id: str, request: Request, page: PageDep) -> Response:
    pages: ProductPages = page.container.extras["product_pages"]
    product = ProductPage.model_validate_json((await pages.get(product_id)).body)
    chosen = request.query_params.get("sku") or (product.best_offer.sku_id if product.best_offer else None)
    if chosen not in {s.id for s in product.skus}:
        chosen = product.skus[0].id if product.skus else None
    offers = sorted((o for o in product.offers if o.sku_id == chosen), key=lambda o: o.total_price.amount)
    buy_box = next((o for o in offers if o.availability != "out_of_stock"), offers[0] if offers else None)
    skus = [(s.id, _sku_label(s.attributes)) for s in product.skus]
    watch = None
    if page.principal is not None:
        async with page.container.read_uow() as uow:
            watch = (
                await wishlists.watched_product_ids(uow=uow, user_id=page.principal.user_id, product_ids=[product.id])
            ).get(product.id)
        await remember_view(page.container, page.principal, product.id)
    sale = (await page.container.flash_calendar.for_products([product.id])).get(product.id)
    sale_offer = next((o for o in product.offers if sale and o.id == sale.offer_id), None)
    sale_pays = (
        flash_sales.price_paid(sale.price_amount, sale_offer.price.amount if sale_offer else None) if sale else 0
    )
    return await page.render(
        "product.html",
        product=product,
        offers=offers,
        buy_box=buy_box,
        skus=skus,
        chosen=chosen,
        watch=watch,
        sale=sale,
        sale_offer=sale_offer,
        sale_pays=sale_pays,
        **await review_panel(page, product.id),
        **await shelves(page, product.id),
    )
