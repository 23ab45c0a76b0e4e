"""The seller's flash sales: schedule a sale of one of their own offers, follow every sale (sold, held, status) and
cancel one that has not ended. The buyer's side (queue, hold, checkout) is in `flash.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from bazaar.catalog import queries as catalog
from bazaar.flash_sales import service as flash_sales
from bazaar.flash_sales.errors import FlashSaleNotCancellable, InvalidFlashSale
from bazaar.flash_sales.schemas import FlashSaleCreate
from bazaar.inventory.errors import InsufficientStock, OfferNotFound
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DependencyUnavailable, DomainError
from bazaar.web.storefront.pages.common import Form, Page, PageDep, PageRoute, field_errors, utc_moment, whole_number
from bazaar.web.storefront.pages.seller import cents

router = APIRouter(prefix="/seller/flash-sales", route_class=PageRoute, include_in_schema=False)
PER_PAGE = 20
OFFER_CHOICES = 200  # the seller's newest listings in the form's select; "Flash sale" beside any listing picks it
FIELDS = ("offer_id", "price", "units", "per_buyer_limit", "starts_at", "ends_at")
MOMENT = "%Y-%m-%dT%H:%M"  # what a datetime-local input shows


@dataclass(frozen=True)
class OfferChoice:
    id: str
    title: str
    price: int
    available: int | None  # None: not among the newest listings, so not counted here


async def _render(
    page: Page, seller_id: str, *, typed: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Response:
    page_no = max(1, min(10_000, whole_number(page.request.query_params.get("page")) or 1))
    chosen = typed.get("offer_id", "")[:32]
    async with page.container.read_uow() as uow:
        sales = await flash_sales.list_sales(uow=uow, seller_id=seller_id, page=page_no, per_page=PER_PAGE)
        listings = await catalog.seller_offers(uow=uow, seller_id=seller_id, page=1, per_page=OFFER_CHOICES)
        ids = [s.offer_id for s in sales.items] + [o.id for o in listings.items] + ([chosen] if chosen else [])
        facts = await catalog.offer_facts(uow=uow, offer_ids=ids)
    choices = [
        OfferChoice(o.id, facts[o.id].title, o.price.amount, o.available_quantity)
        for o in listings.items
        if o.id in facts and facts[o.id].active
    ]
    picked = facts.get(chosen)
    if picked and picked.seller_id == seller_id and picked.active and all(c.id != chosen for c in choices):
        choices.insert(0, OfferChoice(picked.id, picked.title, picked.price_amount, None))
    titles = {offer_id: f.title for offer_id, f in facts.items()}
    return await page.render(
        "seller/flash_sales.html", status_code=status_code, sales=sales, titles=titles, choices=choices,
        typed=typed, errors=errors,
    )  # fmt: skip


def _blank_form(offer_id: str) -> dict[str, str]:
    """Next full hour to the hour after: a window a seller can keep or move."""
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {
        "offer_id": offer_id,
        "per_buyer_limit": "1",
        "starts_at": start.strftime(MOMENT),
        "ends_at": (start + timedelta(hours=1)).strftime(MOMENT),
    }


@router.get("")
async def seller_flash_sales(page: PageDep) -> Response:
    seller_id = page.require_seller()
    offer_id = str(page.request.query_params.get("offer") or "")[:32]
    return await _render(page, seller_id, typed=_blank_form(offer_id), errors={})


def _parse(typed: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed form as the API's body, and what could not be read, by field."""
    errors: dict[str, str] = {}
    price = cents(typed["price"])
    if price is None:
        errors["price"] = "enter a price in dollars, such as 12.99"
    units, limit = whole_number(typed["units"]), whole_number(typed["per_buyer_limit"])
    if units is None:
        errors["units"] = "enter a whole number of units"
    if limit is None:
        errors["per_buyer_limit"] = "enter a whole number of units"
    body: dict[str, Any] = {"offer_id": typed["offer_id"], "price": {"amount": price}, "units": units}
    body["per_buyer_limit"] = limit
    for name in ("starts_at", "ends_at"):
        try:
            body[name] = utc_moment(typed[name])
        except ValueError:
            errors[name] = "enter a date and time (UTC)"
    return body, errors


def _service_error(exc: DomainError) -> dict[str, str]:
    """A refusal from the service shown beside the field it is about."""
    if isinstance(exc, InvalidFlashSale) and exc.details.get("field") in FIELDS:
        return {str(exc.details["field"]): exc.message}
    if isinstance(exc, OfferNotFound):
        return {"offer_id": "choose one of your active listings"}
    if isinstance(exc, InsufficientStock):
        return {"units": exc.message}
    return {"form": exc.message}


@router.post("")
async def schedule_flash_sale(page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    typed = {name: str(form.get(name) or "").strip()[:100] for name in FIELDS}
    body, errors = _parse(typed)
    if not errors:
        try:
            data = FlashSaleCreate.model_validate(body)
            async with page.container.uow() as uow:
                sale = await flash_sales.create_sale(uow=uow, seller_id=seller_id, data=data)
        except ValidationError as exc:
            errors = {("price" if k == "amount" else k): v for k, v in field_errors(exc).items()}
        except DependencyUnavailable:
            raise
        except DomainError as exc:
            errors = _service_error(exc)
    if errors:
        return await _render(page, seller_id, typed=typed, errors=errors, status_code=422)
    page.container.flash_calendar.forget()  # this process's product pages show it now
    when = sale.starts_at.strftime("%Y-%m-%d %H:%M")
    return page.redirect("/seller/flash-sales", notice=f"The flash sale is scheduled: it starts {when} UTC.")


@router.post("/{sale_id}/cancel")
async def cancel_flash_sale(sale_id: str, page: PageDep, form: Form) -> Response:
    """Another seller's sale, or none, answers the not-found page (from the service) and changes nothing."""
    seller_id = page.require_seller()
    try:
        async with page.container.uow() as uow:
            await flash_sales.cancel_sale(uow=uow, seller_id=seller_id, sale_id=sale_id)
    except FlashSaleNotCancellable as exc:
        return page.redirect("/seller/flash-sales", notice=exc.message)
    page.container.flash_calendar.forget()
    return page.redirect("/seller/flash-sales", notice="The flash sale is cancelled.")
