"""Search over HTTP: relevance, every filter and sort, pages, facets against a brute-force count, typos,
the index catching up with catalog changes, and validation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update

from bazaar.bootstrap import Container
from bazaar.catalog.events import ProductUpdated
from bazaar.catalog.models import Offer, Product, Sku
from bazaar.inventory.models import StockBucket
from bazaar.search.schemas import SearchResult
from tests.catalog_builder import (
    BuiltProduct,
    api_offer,
    api_product,
    bulk_catalog,
    index_now,
    make_categories,
    rebuild_index,
)
from tests.e2e.test_accounts import assert_error
from tests.helpers import API, new_seller


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get(f"{API}/search", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture
async def bulk(container: Container) -> tuple[dict[str, str], list[BuiltProduct]]:
    cats = await make_categories(container)
    products = await bulk_catalog(container, cats, n=120)
    await rebuild_index(container)
    return cats, products


async def test_empty_index_answers_empty_results(client: httpx.AsyncClient) -> None:
    body = await search(client, q="anything")
    assert body["items"] == [] and body["total"] == 0 and body["page"] == 1 and body["per_page"] == 20
    assert body["facets"]["brand"] == [] and body["facets"]["category"] == []
    assert [b["min"] for b in body["facets"]["rating"]] == [4, 3, 2, 1]


async def test_relevance_title_beats_description(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    _, headers = await new_seller(client)
    weak = await api_product(
        client, headers, title="Desk lamp", brand="Philips", category_id=cats["Home"], description="not a kettle"
    )
    strong = await api_product(client, headers, title="Electric kettle", brand="Philips", category_id=cats["Kitchen"])
    await api_product(client, headers, title="Toaster", brand="Philips", category_id=cats["Kitchen"])
    await index_now(container)
    body = await search(client, q="Kettles")
    assert [i["id"] for i in body["items"]] == [strong["id"], weak["id"]]
    item = body["items"][0]
    assert item["title"] == "Electric kettle" and item["brand"] == "Philips"
    assert item["category"] == {"id": cats["Kitchen"], "slug": "kitchen", "name": "Kitchen"}
    assert item["price_from"] is None and item["in_stock"] is False
    # Every word must match: a word nothing contains empties the result instead of widening it.
    assert (await search(client, q="kettle zebra"))["total"] == 0
    # Words that match nearly everything are ignored next to others, not required.
    assert [i["id"] for i in (await search(client, q="the kettles"))["items"]] == [strong["id"], weak["id"]]
    # Brand and category names are searched too.
    assert (await search(client, q="philips"))["total"] == 3
    assert {i["id"] for i in (await search(client, q="kitchen"))["items"]} >= {strong["id"]}


async def test_filters_match_brute_force(
    client: httpx.AsyncClient, bulk: tuple[dict[str, str], list[BuiltProduct]]
) -> None:
    cats, products = bulk

    async def ids(**params: Any) -> set[str]:
        found: set[str] = set()
        page = 1
        while True:
            body = await search(client, per_page=100, page=page, **params)
            found |= {i["id"] for i in body["items"]}
            if page * 100 >= body["total"]:
                assert len(found) == body["total"]
                return found
            page += 1

    assert await ids() == {p.id for p in products}
    assert await ids(category=cats["Audio"]) == {p.id for p in products if cats["Audio"] in p.category_ids}
    assert await ids(category=cats["Mice"]) == {p.id for p in products if p.category_id == cats["Mice"]}
    assert await ids(brand=["Sony", "bose"]) == {p.id for p in products if p.brand in {"Sony", "Bose"}}
    assert await ids(price_min=1000, price_max=4999) == {
        p.id for p in products if p.price_from is not None and 1000 <= p.price_from <= 4999
    }
    assert await ids(rating_min=4) == {p.id for p in products if p.rating >= 4}
    assert await ids(in_stock="true") == {p.id for p in products if p.price_from is not None}
    combined = await ids(q="wireless", category=cats["Electronics"], brand="Sony", in_stock="true", rating_min=2)
    assert combined == {
        p.id
        for p in products
        if "wireless" in p.title and p.brand == "Sony" and p.price_from is not None and p.rating >= 2
    }
    assert await ids(category="UNKNOWN") == set()


async def test_filters_and_facets_with_words_match_brute_force(
    client: httpx.AsyncClient, bulk: tuple[dict[str, str], list[BuiltProduct]]
) -> None:
    """With words the filters take other paths (exclusions, column ranges): same answers, same facets."""
    _, products = bulk
    wireless = [p for p in products if "wireless" in p.title.split()]

    def brute(
        price_min: int | None = None,
        price_max: int | None = None,
        rating_min: float | None = None,
        in_stock: bool = False,
    ) -> list[BuiltProduct]:
        return [
            p
            for p in wireless
            if (not in_stock or p.price_from is not None)
            if price_min is None or (p.price_from is not None and p.price_from >= price_min)
            if price_max is None or (p.price_from is not None and p.price_from <= price_max)
            if rating_min is None or p.rating >= rating_min
        ]

    cases: list[dict[str, Any]] = [
        {},
        {"price_min": 1000, "price_max": 4999},
        {"price_min": 2500},
        {"price_max": 3000},
        {"rating_min": 4},
        {"rating_min": 3.9},
        {"rating_min": 4.5},
        {"rating_min": 0},
        {"rating_min": 1},
        {"rating_min": 5},
        {"in_stock": True},
        {"in_stock": True, "rating_min": 3},
        {"in_stock": True, "rating_min": 2, "price_max": 6000},
    ]
    for case in cases:
        expected = brute(**case)
        params = {k: ("true" if v is True else v) for k, v in case.items()}
        body = await search(client, q="wireless", per_page=100, facet_size=200, **params)
        assert body["total"] == len(expected), case
        assert {i["id"] for i in body["items"]} == {p.id for p in expected}, case
        facets = body["facets"]
        assert {f["value"]: f["count"] for f in facets["brand"]} == dict(Counter(p.brand for p in expected)), case
        for bucket in facets["price"]:
            low = bucket["from"]["amount"]
            high = bucket["to"]["amount"] if bucket["to"] else 10**12
            count = sum(1 for p in expected if p.price_from is not None and low <= p.price_from < high)
            assert bucket["count"] == count, (case, bucket)
        for bucket in facets["rating"]:
            assert bucket["count"] == sum(1 for p in expected if p.rating >= bucket["min"]), (case, bucket)
        # The next page reuses the facets counted for the first: they must come back identical.
        again = await search(client, q="wireless", per_page=2, page=2, facet_size=200, **params)
        assert again["facets"] == facets and again["total"] == body["total"], case


async def test_answers_are_exactly_the_documented_json(
    client: httpx.AsyncClient, bulk: tuple[dict[str, str], list[BuiltProduct]]
) -> None:
    """The engine writes its answer from stored pieces; it must be byte for byte what the schema gives."""
    cats, _ = bulk
    queries: list[dict[str, Any]] = [
        {},
        {"q": "wireless", "in_stock": "true", "sort": "price_desc"},
        {"q": "wirless", "category": cats["Electronics"]},  # typo tolerant, with a "did you mean"
        {"q": "nothing-like-this"},
        {"brand": "Sony", "page": 2, "per_page": 3},
    ]
    for params in queries:
        response = await client.get("/api/v1/search", params=params)
        assert response.status_code == 200, response.text
        model = SearchResult.model_validate_json(response.content)
        assert model.model_dump_json(by_alias=True).encode() == response.content, params


async def test_sorts_and_pages(client: httpx.AsyncClient, bulk: tuple[dict[str, str], list[BuiltProduct]]) -> None:
    _, products = bulk
    by_id = {p.id: p for p in products}

    async def order(sort: str, **params: Any) -> list[BuiltProduct]:
        body = await search(client, sort=sort, per_page=100, **params)
        return [by_id[i["id"]] for i in body["items"]]

    asc = await order("price_asc", in_stock="true")
    assert [p.price_from for p in asc] == sorted(p.price_from for p in asc if p.price_from is not None)
    desc = await order("price_desc", in_stock="true")
    assert [p.price_from for p in desc] == sorted((p.price_from for p in desc if p.price_from), reverse=True)
    # Without the in-stock filter, products without a price come last in either direction.
    mixed = await order("price_asc")
    priced = [p.price_from is not None for p in mixed]
    assert priced == sorted(priced, reverse=True)
    rating = await order("rating")
    assert [p.rating for p in rating] == sorted((p.rating for p in rating), reverse=True)
    newest = await order("newest")
    assert [p.created_rank for p in newest] == sorted((p.created_rank for p in newest), reverse=True)

    pages = [await search(client, sort="newest", per_page=7, page=n) for n in (1, 2, 3)]
    seen = [i["id"] for body in pages for i in body["items"]]
    assert seen == [p.id for p in newest[:21]]
    assert all(body["total"] == len(products) and body["per_page"] == 7 for body in pages)
    last = await search(client, per_page=50, page=3)
    assert len(last["items"]) == len(products) - 100


async def test_facet_counts_match_brute_force(
    client: httpx.AsyncClient, bulk: tuple[dict[str, str], list[BuiltProduct]]
) -> None:
    cats, products = bulk
    body = await search(client, facet_size=200)
    facets = body["facets"]
    # Top level: one entry per root category.
    roots = Counter(p.category_ids[-1] for p in products)
    assert {f["value"]: f["count"] for f in facets["category"]} == dict(roots)
    electronics = next(f for f in facets["category"] if f["value"] == cats["Electronics"])
    assert electronics["slug"] == "electronics" and electronics["name"] == "Electronics"
    assert {f["value"]: f["count"] for f in facets["brand"]} == dict(Counter(p.brand for p in products))
    counts = [f["count"] for f in facets["brand"]]
    assert counts == sorted(counts, reverse=True)
    for bucket in facets["price"]:
        low = bucket["from"]["amount"]
        high = bucket["to"]["amount"] if bucket["to"] else 10**12
        expected = sum(1 for p in products if p.price_from is not None and low <= p.price_from < high)
        assert bucket["count"] == expected, bucket
    assert sum(b["count"] for b in facets["price"]) == sum(1 for p in products if p.price_from is not None)
    for bucket in facets["rating"]:
        assert bucket["count"] == sum(1 for p in products if p.rating >= bucket["min"]), bucket

    # Inside a category the category facet drills down to its children.
    audio = await search(client, category=cats["Audio"])
    in_audio = [p for p in products if cats["Audio"] in p.category_ids]
    assert {f["value"]: f["count"] for f in audio["facets"]["category"]} == dict(
        Counter(p.category_id for p in in_audio)
    )

    # Disjunctive brand facet: filtering on Sony still counts the other brands (the brand filter is left out),
    # while the other facets describe only the Sony products.
    sony = await search(client, brand="Sony", facet_size=200)
    assert {f["value"]: f["count"] for f in sony["facets"]["brand"]} == dict(Counter(p.brand for p in products))
    sony_products = [p for p in products if p.brand == "Sony"]
    assert sony["total"] == len(sony_products)
    for bucket in sony["facets"]["rating"]:
        assert bucket["count"] == sum(1 for p in sony_products if p.rating >= bucket["min"])
    assert len((await search(client, facet_size=2))["facets"]["brand"]) == 2


async def test_typos_are_tolerated_and_corrected(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    _, headers = await new_seller(client)
    target = await api_product(
        client, headers, title="Wireless Headphones Pro", brand="Sony", category_id=cats["Headphones"]
    )
    await api_product(client, headers, title="Wired headphones", brand="Bose", category_id=cats["Headphones"])
    await api_product(client, headers, title="Wireless mouse", brand="Logitech", category_id=cats["Mice"])
    await index_now(container)

    body = await search(client, q="wireles headphnes")
    assert body["items"][0]["id"] == target["id"]
    assert body["typo_tolerant"] is True
    assert body["did_you_mean"] == "wireless headphones"

    brand = await search(client, q="logitehc")
    assert brand["total"] == 1 and brand["items"][0]["brand"] == "Logitech"
    assert brand["did_you_mean"] == "logitech"

    exact = await search(client, q="wireless headphones")
    assert exact["items"][0]["id"] == target["id"]
    assert exact["did_you_mean"] is None and exact["typo_tolerant"] is False

    # Short words are not fuzzed (too many near neighbours), and nonsense stays empty.
    assert (await search(client, q="xqzvw"))["total"] == 0


async def test_index_catches_up_with_updates_and_deletes(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    seller, headers = await new_seller(client)
    product = await api_product(client, headers, title="Travel Kettle", brand="Philips", category_id=cats["Kitchen"])
    assert (await search(client, q="kettle"))["total"] == 0  # not indexed yet: eventually consistent
    await index_now(container)
    item = (await search(client, q="kettle"))["items"][0]
    assert item["id"] == product["id"] and item["in_stock"] is False and item["price_from"] is None

    offer = await api_offer(client, headers, sku_id=product["skus"][0]["id"], price=2500, quantity=2)
    await index_now(container)
    item = (await search(client, q="kettle", in_stock="true"))["items"][0]
    assert item["price_from"] == {"amount": 2500, "currency": "USD"} and item["in_stock"] is True

    r = await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}", json={"price": {"amount": 1999, "currency": "USD"}}, headers=headers
    )
    assert r.status_code == 200
    await index_now(container)
    assert (await search(client, q="kettle"))["items"][0]["price_from"]["amount"] == 1999
    # Facets follow the index too (they are kept per index generation, not per request).
    price_facet = (await search(client, q="kettle"))["facets"]["price"]
    assert next(b for b in price_facet if b["from"]["amount"] == 1000)["count"] == 1
    assert (await search(client, q="kettle", price_max=2000))["total"] == 1

    r = await client.patch(f"{API}/sellers/me/offers/{offer['id']}", json={"quantity": 0}, headers=headers)
    assert r.status_code == 200
    await index_now(container)
    assert (await search(client, q="kettle", in_stock="true"))["total"] == 0
    assert (await search(client, q="kettle"))["items"][0]["in_stock"] is False

    # The product disappears from the database: its next event removes it from the index.
    async with container.uow() as uow:
        await uow.session.execute(delete(StockBucket).where(StockBucket.offer_id == offer["id"]))
        await uow.session.execute(delete(Offer).where(Offer.product_id == product["id"]))
        await uow.session.execute(delete(Sku).where(Sku.product_id == product["id"]))
        await uow.session.execute(delete(Product).where(Product.id == product["id"]))
        uow.emit(ProductUpdated(product_id=product["id"]))
        await uow.commit()
    await index_now(container)
    assert (await search(client, q="kettle"))["total"] == 0


async def test_indexer_start_catches_up_after_a_crash(client: httpx.AsyncClient, container: Container) -> None:
    """Events delivered but never committed to the index (the process died) are re-indexed on the next start."""
    from bazaar.search.indexer import Indexer

    cats = await make_categories(container)
    _, headers = await new_seller(client)
    await index_now(container)  # the indexer has started and committed once
    product = await api_product(client, headers, title="Ergonomic mouse", brand="Logitech", category_id=cats["Mice"])
    indexer: Indexer = container.extras["search_indexer"]
    await index_now(container)
    async with container.uow() as uow:
        await uow.session.execute(update(Product).where(Product.id == product["id"]).values(rating_average=4.5))
        uow.emit(ProductUpdated(product_id=product["id"]))
        await uow.commit()
    from tests.helpers import drain_events

    await drain_events(container)
    indexer.pending.clear()  # the crash: the mark is lost with the process
    indexer.close()
    fresh = Indexer(indexer.index, container.read_uow)
    container.extras["search_indexer"] = fresh
    assert await fresh.run_once() >= 1
    await fresh.index_pending()
    assert (await search(client, q="mouse", rating_min=4.5))["total"] == 1
    fresh.close()


async def test_search_validation(client: httpx.AsyncClient) -> None:
    for params, code in (
        ({"per_page": 101}, "validation_error"),
        ({"per_page": 0}, "validation_error"),
        ({"page": 0}, "validation_error"),
        ({"sort": "cheapest"}, "validation_error"),
        ({"price_min": -1}, "validation_error"),
        ({"rating_min": 6}, "validation_error"),
        ({"facet_size": 201}, "validation_error"),
        ({"price_min": 500, "price_max": 100}, "invalid_search"),
        ({"page": 101, "per_page": 100}, "result_window_exceeded"),
    ):
        r = await client.get(f"{API}/search", params=params)
        assert_error(r, 422, code)
    assert (await client.get(f"{API}/search", params={"page": 100, "per_page": 100})).status_code == 200


async def test_search_answers_304_for_a_known_etag(
    client: httpx.AsyncClient, bulk: tuple[dict[str, str], list[BuiltProduct]]
) -> None:
    first = await client.get(f"{API}/search", params={"q": "mouse"})
    etag = first.headers["etag"]
    again = await client.get(f"{API}/search", params={"q": "mouse"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await client.get(f"{API}/search", params={"q": "speaker"}, headers={"If-None-Match": etag})
    assert other.status_code == 200


async def test_reindex_request_is_picked_up_by_the_running_indexer(
    client: httpx.AsyncClient, container: Container
) -> None:
    """`bazaar reindex` while a worker holds the index leaves a request that the worker carries out."""
    from bazaar.search.indexer import Indexer

    cats = await make_categories(container)
    await index_now(container)
    await bulk_catalog(container, cats, n=5)  # written behind the indexer's back: no events
    assert (await search(client))["total"] == 0
    indexer: Indexer = container.extras["search_indexer"]
    indexer.index.rebuild_marker.touch()
    assert await indexer.run_once() == 5
    assert not indexer.index.rebuild_marker.exists()
    assert (await search(client))["total"] == 5


async def test_a_rebuild_removes_the_folders_of_earlier_index_versions(
    client: httpx.AsyncClient, container: Container
) -> None:
    """After an upgrade changes the index schema, the new version is built and the old folders go."""
    from bazaar.search.index import SCHEMA_VERSION
    from bazaar.search.indexer import Indexer

    indexer: Indexer = container.extras["search_indexer"]
    root = indexer.index.root
    old = root / f"v{SCHEMA_VERSION - 1}"
    (old / "segment").mkdir(parents=True)
    (old / "meta.json").write_text("{}")
    unrelated = root / "notes"
    unrelated.mkdir()
    await bulk_catalog(container, await make_categories(container), n=3)
    await indexer.rebuild()
    assert not old.exists() and unrelated.exists() and indexer.index.path.exists()
    assert (await search(client))["total"] == 3


async def test_fast_path_and_documented_route_answer_alike(
    client: httpx.AsyncClient, bulk: tuple[dict[str, str], list[BuiltProduct]]
) -> None:
    """Plain queries are served before the router; odd ones (here an unknown extra parameter) by the route."""
    cats, _ = bulk
    params = {"q": "wireless", "category": cats["Electronics"], "brand": ["Sony", "Bose"], "sort": "price_asc"}
    fast = await client.get(f"{API}/search", params=params)
    routed = await client.get(f"{API}/search", params={**params, "utm_source": "mail"})
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content and fast.headers["etag"] == routed.headers["etag"]
    # A blank number is not "no filter": it is refused, whichever path sees it first.
    assert_error(await client.get(f"{API}/search", params={"price_min": ""}), 422, "validation_error")


async def test_start_up_warms_search_and_freezes_the_start_up_heap(container: Container) -> None:
    """The app's lifespan warms search and freezes start-up objects before the first request; shutdown unfreezes."""
    import gc

    from bazaar.web.app import create_app

    service = container.extras["search"]
    warmed: list[bool] = []
    original = service.warm_up

    async def warm_up() -> None:
        await original()
        warmed.append(True)

    service.warm_up = warm_up
    app = create_app(container=container)
    try:
        async with app.router.lifespan_context(app):
            assert warmed == [True] and gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
