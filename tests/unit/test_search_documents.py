"""The stored result entry (`card`) is exactly what the search schema would write for the product."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bazaar.catalog.schemas import CategoryRef, MoneyModel
from bazaar.search.documents import CategoryInfo, ProductFacts
from bazaar.search.schemas import SearchItem

PATH = (CategoryInfo("c1", "home", "Home & Garden", None), CategoryInfo("c2", "cafe", 'Café \u2615 "quoted"', "c1"))


@pytest.mark.parametrize(
    ("price", "rating"),
    [(12999, 4.37), (None, 0.0), (1, 5.0), (99_999_999, 3.333333), (250, 4.005)],
)
def test_card_is_the_search_item_json(price: int | None, rating: float) -> None:
    facts = ProductFacts(
        id="01K8VSNJQP4TY8A0120WQX8A63",
        title='Zoë\'s \\ "best" kettle\n2 L',
        brand="Brand & Co.",
        description="unused",
        category_path=PATH,
        price_from=price,
        currency="USD",
        rating=rating,
        rating_count=17,
        created=datetime(2026, 1, 2, tzinfo=UTC),
    )
    item = SearchItem(
        id=facts.id,
        title=facts.title,
        brand=facts.brand,
        category=CategoryRef(id="c2", slug="cafe", name=PATH[1].name),
        price_from=None if price is None else MoneyModel.of(price),
        rating=round(rating, 2),
        rating_count=17,
        in_stock=price is not None,
    )
    assert facts.card() == item.model_dump_json().encode()
