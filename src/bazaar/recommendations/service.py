"""Recommendation use cases: co-purchases counted from placed orders (a consumer of order events, so eventually
consistent), "similar" asked of the search index, and "for you" built from a buyer's orders and views."""

from __future__ import annotations

from collections import defaultdict
from itertools import permutations
from typing import Any, cast

from sqlalchemy import Integer, String, Table, case, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bazaar.catalog.queries import product_category_id, product_summaries
from bazaar.catalog.schemas import ProductSummary
from bazaar.db.base import UTCDateTime
from bazaar.db.driver import Prepared, arrays_of, insert_from_arrays
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.orders import queries as orders
from bazaar.recommendations.models import CoPurchase
from bazaar.recommendations.schemas import BuyerRecommendations, ProductRecommendations
from bazaar.search.schemas import SearchParams, SearchResult
from bazaar.search.service import SearchService
from bazaar.wishlists import service as wishlists

MAX_PRODUCTS_PER_ORDER = 20  # an order of 200 products would write 40,000 pairs; its first 20 say enough
SHELF = 8


_CO_PURCHASES = cast(Table, CoPurchase.__table__)
UPSERT_ROWS = 1_000  # pairs per statement on SQLite: 5 parameters each, well under a statement's 32,767


def _count_up_from_arrays() -> Prepared:
    """PostgreSQL's upsert of counted pairs, its rows given as one array per column: one text for any number of
    rows, compiled and prepared once (a multi-row VALUES differs with every batch's size, so SQLAlchemy compiled it
    anew each time: about 5 % of the worker's CPU in a rush of checkouts). The rows are upserted in the arrays'
    order (`WITH ORDINALITY`, ordered), which is what keeps two consumers' batches from deadlocking."""
    statement = insert_from_arrays(_CO_PURCHASES, _PAIR_COLUMNS, in_order=True)
    return Prepared(statement.on_conflict_do_update(index_elements=_PAIR_KEY, set_=_counted_up(statement)))


def _counted_up(statement: Any) -> dict[str, Any]:
    return {
        "orders": _CO_PURCHASES.c.orders + statement.excluded.orders,
        "last_at": statement.excluded.last_at,
        "last_order_id": statement.excluded.last_order_id,
    }


_PAIR_COLUMNS: dict[str, Any] = {
    "product_id": String(),
    "other_id": String(),
    "orders": Integer(),
    "last_at": UTCDateTime(),
    "last_order_id": String(),
}
_PAIR_KEY = [_CO_PURCHASES.c.product_id, _CO_PURCHASES.c.other_id]
_COUNT_UP = _count_up_from_arrays()


async def _count_up(uow: UnitOfWork, rows: list[dict[str, object]]) -> None:
    """Add each row's orders to its pair's count (made at that count if new), in the rows' order."""
    if not rows:
        return
    if uow.is_postgres:
        await uow.fetch(_COUNT_UP, arrays_of(rows, _PAIR_COLUMNS))
        return
    for start in range(0, len(rows), UPSERT_ROWS):  # SQLite: a multi-row VALUES, at most UPSERT_ROWS rows each
        statement = sqlite_insert(_CO_PURCHASES).values(rows[start : start + UPSERT_ROWS])
        await uow.session.execute(
            statement.on_conflict_do_update(index_elements=_PAIR_KEY, set_=_counted_up(statement))
        )


async def count_orders(
    *, uow: UnitOfWork, placed: list[tuple[str, str | None]], cancelled: list[tuple[str, str | None]]
) -> int:
    """Count each pair of products of the placed orders (order id, buyer) one order up, and of the cancelled ones
    one down; answers how many pairs were counted up. The pairs of the whole batch are written in one sorted
    order, so two consumers' batches lock co-purchase rows in the same order and cannot deadlock (sorting each
    order's pairs alone did not: a batch of two orders could take its rows in the opposite order to another's);
    a pair several orders share is one row, and the pairs counted up are one statement (a cancelled order's pair
    in their midst splits it, so the order holds)."""
    products = await orders.products_of_orders(uow=uow, keys=[*placed, *cancelled])
    up: dict[tuple[str, str], int] = defaultdict(int)
    down: dict[tuple[str, str], int] = defaultdict(int)
    last_order: dict[tuple[str, str], str] = {}
    for counts, batch in ((up, placed), (down, cancelled)):
        for order_id, _ in batch:
            for pair in permutations(products[order_id][:MAX_PRODUCTS_PER_ORDER], 2):
                counts[pair] += 1
                if counts is up:
                    last_order[pair] = order_id
    now = utcnow()
    ups: list[dict[str, object]] = []  # consecutive pairs counted up: one statement, still in the sorted order
    for product_id, other_id in sorted(up.keys() | down.keys()):
        n = up.get((product_id, other_id), 0)
        if n:
            ups.append(
                {
                    "product_id": product_id,
                    "other_id": other_id,
                    "orders": n,
                    "last_at": now,
                    "last_order_id": last_order[(product_id, other_id)],
                }
            )
        gone = down.get((product_id, other_id), 0)
        if gone:  # a cancelled order no longer counts; never below zero
            await _count_up(uow, ups)
            ups = []
            await uow.session.execute(
                update(_CO_PURCHASES)
                .where(
                    _CO_PURCHASES.c.product_id == product_id,
                    _CO_PURCHASES.c.other_id == other_id,
                    _CO_PURCHASES.c.orders > 0,
                )
                .values(orders=case((_CO_PURCHASES.c.orders > gone, _CO_PURCHASES.c.orders - gone), else_=0))
            )
    await _count_up(uow, ups)
    return sum(up.values())


async def bought_together_ids(*, uow: UnitOfWork, product_ids: list[str], limit: int = SHELF) -> list[str]:
    """Products most often ordered with any of these (not these themselves), most orders first."""
    if not product_ids:
        return []
    rows = await uow.session.execute(
        select(CoPurchase.other_id)
        .where(CoPurchase.product_id.in_(product_ids), CoPurchase.orders > 0)
        .order_by(CoPurchase.orders.desc(), CoPurchase.last_at.desc(), CoPurchase.other_id)
        .limit(limit * 4)
    )
    skip = set(product_ids)
    return [pid for pid in dict.fromkeys(rows.scalars()) if pid not in skip][:limit]


async def similar_ids(
    *, search: SearchService, product: ProductSummary, category_id: str, limit: int = SHELF
) -> list[str]:
    """Alike in the search index: the same kind of thing (the title's last word, its noun) in the same category,
    best rated first; topped up from the category when few match."""
    noun = product.title.split()[-1] if product.title.split() else ""
    found: list[str] = []
    for q in (noun, ""):
        params = SearchParams(q=q[:200], category=category_id, in_stock=True, sort="rating", per_page=limit + 1)
        result = SearchResult.model_validate_json((await search.search_json(params)).body)
        found.extend(item.id for item in result.items if item.id != product.id and item.id not in found)
        if len(found) >= limit:
            break
    return found[:limit]


async def _cards(uow: UnitOfWork, ids: list[str]) -> list[ProductSummary]:
    summaries = await product_summaries(uow=uow, product_ids=ids)
    return [summaries[pid] for pid in ids if pid in summaries]


async def for_product(*, uow: UnitOfWork, search: SearchService, product_id: str) -> ProductRecommendations:
    category_id = await product_category_id(uow=uow, product_id=product_id)  # ProductNotFound for a bad id
    summaries = await product_summaries(uow=uow, product_ids=[product_id])
    together = await bought_together_ids(uow=uow, product_ids=[product_id])
    similar: list[str] = []
    if product_id in summaries:
        similar = await similar_ids(search=search, product=summaries[product_id], category_id=category_id)
    similar = [pid for pid in similar if pid not in together]
    return ProductRecommendations(bought_together=await _cards(uow, together), similar=await _cards(uow, similar))


async def for_cart(*, uow: UnitOfWork, product_ids: list[str]) -> list[ProductSummary]:
    """What buyers ordered with the cart's products."""
    return await _cards(uow, await bought_together_ids(uow=uow, product_ids=product_ids))


async def for_buyer(*, uow: UnitOfWork, buyer_id: str) -> BuyerRecommendations:
    """From what the buyer ordered and looked at lately: what others ordered with those, never what they bought."""
    bought = await orders.recently_ordered_product_ids(uow=uow, buyer_id=buyer_id)
    viewed = [
        r.product_id for r in (await wishlists.recently_viewed(uow=uow, user_id=buyer_id, page=1, per_page=10)).items
    ]
    seeds = list(dict.fromkeys([*bought[:10], *viewed]))
    ids = await bought_together_ids(uow=uow, product_ids=seeds, limit=SHELF * 2)
    owned = set(bought)
    picks = [pid for pid in ids if pid not in owned]
    picks += [pid for pid in viewed if pid not in owned and pid not in picks]  # still thinking about these
    cards = [card for card in await _cards(uow, picks[: SHELF * 2]) if card.in_stock][:SHELF]
    return BuyerRecommendations(for_you=cards, based_on=seeds)
