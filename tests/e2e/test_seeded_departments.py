"""Every department of the demo catalog can be bought: a quote and a checkout of one seeded product
per department, on both backends, and no way left to file a product under an unknown tax category."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from bazaar.catalog.models import Category, Offer, Product
from bazaar.inventory.models import StockBucket
from bazaar.kernel.errors import ValidationFailed
from bazaar.seed.data import DEPARTMENTS, Department
from bazaar.seed.loader import seed_catalog
from bazaar.tax.categories import TAX_CATEGORIES
from tests.e2e.test_checkout import ADDRESS, body, settings  # noqa: F401  (short provider deadlines)
from tests.helpers import API, new_seller, new_user

CHECKOUT_DONE = {"completed", "order_created", "payment_captured"}


async def _one_offer_per_department(container: Any) -> dict[str, str]:
    """Department name -> an offer of one of its products with stock."""
    async with container.read_uow() as uow:
        departments = await uow.session.execute(select(Category).where(Category.depth == 0))
        roots = {c.id: c.name for c in departments.scalars()}
        rows = await uow.session.execute(
            select(Category.path, func.min(Offer.id))
            .join(Product, Product.category_id == Category.id)
            .join(Offer, Offer.product_id == Product.id)
            .join(StockBucket, StockBucket.offer_id == Offer.id)
            .where(StockBucket.available > 0)
            .group_by(Category.path)
        )
        picked: dict[str, str] = {}
        for path, offer_id in rows:
            picked.setdefault(roots[path.strip("/").split("/")[0]], offer_id)
        return picked


async def _buy(client: httpx.AsyncClient, offer_id: str, n: int) -> dict[str, Any]:
    _, headers = await new_user(client)
    r = await client.post(f"{API}/cart/items", json={"offer_id": offer_id, "quantity": 1}, headers=headers)
    assert r.status_code == 200, r.text
    quote = await client.post(f"{API}/checkout/quote", json={"shipping_address": ADDRESS}, headers=headers)
    assert quote.status_code == 200, quote.text
    r = await client.post(f"{API}/checkout", json=body(), headers={**headers, "Idempotency-Key": f"dept-{n}"})
    assert r.status_code in (201, 202), r.text
    for _ in range(100):
        if r.json()["status"] in CHECKOUT_DONE or r.json().get("order_id"):
            break
        r = await client.get(f"{API}/checkout/{r.json()['id']}", headers=headers)
    assert r.json().get("order_id"), r.json()
    return dict(quote.json())


async def test_one_seeded_product_of_every_department_quotes_and_checks_out(
    client: httpx.AsyncClient,
    container: Any,
    settings: Any,  # noqa: F811
) -> None:
    await seed_catalog(settings, products=240, seed=3)
    picked = await _one_offer_per_department(container)
    assert set(picked) == {d.name for d in DEPARTMENTS}
    for n, (department, offer_id) in enumerate(sorted(picked.items())):
        quote = await _buy(client, offer_id, n)
        assert quote["total"]["amount"] > 0, department
    # Grocery is tax-exempt in California (rates.csv): the seeded groceries really are groceries.
    async with container.read_uow() as uow:
        categories = set((await uow.session.execute(select(Product.tax_category).distinct())).scalars())
    assert categories <= set(TAX_CATEGORIES) and "grocery" in categories


def test_a_department_with_an_unknown_tax_category_cannot_be_defined() -> None:
    with pytest.raises(ValidationFailed):
        Department("Snacks", "food", (), {}, ())


async def test_a_product_cannot_be_filed_under_an_unknown_tax_category(
    client: httpx.AsyncClient, container: Any
) -> None:
    _, headers = await new_seller(client)
    async with container.uow() as uow:
        category = Category(slug="snacks", name="Snacks", path="/")
        uow.session.add(category)
        await uow.commit()
        category_id = category.id
    product = {"title": "Crisps", "brand": "Acme", "category_id": category_id, "skus": [{"attributes": {}}]}
    r = await client.post(f"{API}/products", json={**product, "tax_category": "food"}, headers=headers)
    assert r.status_code == 422, r.text
    r = await client.post(f"{API}/products", json={**product, "tax_category": "grocery"}, headers=headers)
    assert r.status_code == 201, r.text
    with pytest.raises(ValidationFailed):
        Product(title="x", brand="y", category_id=category_id, tax_category="food")
    # The database refuses it too, for writers that bypass the model (bulk loads, SQL by hand).
    with pytest.raises(IntegrityError):
        async with container.uow() as uow:
            await uow.session.execute(text("UPDATE products SET tax_category = 'food'"))
            await uow.commit()
