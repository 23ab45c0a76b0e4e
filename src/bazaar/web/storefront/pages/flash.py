"""Flash-sale pages: join the queue, wait with a live position, hold when admitted, and check out the held units.

The waiting page polls its status fragment with htmx as often as the ticket says (`poll_after_seconds`: every
2 s near the front, less often far back; without JavaScript a `Refresh` header reloads the page), which also
keeps the buyer's place: a buyer who closes the page stops polling and loses the place after
`BAZAAR_FLASH_QUEUE_IDLE_SECONDS`.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from bazaar.addresses import service as addresses
from bazaar.catalog import queries as catalog
from bazaar.checkout import service as checkout
from bazaar.checkout.schemas import CheckoutRequest
from bazaar.flash_sales import holds, queue
from bazaar.flash_sales import service as flash_sales
from bazaar.flash_sales.calendar import SaleEntry
from bazaar.flash_sales.schemas import TicketRead
from bazaar.kernel.errors import DomainError
from bazaar.kernel.ids import new_id
from bazaar.shipping.rates import METHODS
from bazaar.web.arrival import arrival_time
from bazaar.web.storefront.pages.common import Form, Page, PageDep, PageRoute, field_errors, whole_number
from bazaar.web.storefront.pages.shop import Where, _card, _where

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _queue_url(sale_id: str, ticket: str) -> str:
    return f"/flash/{quote(sale_id)}/queue/{quote(ticket)}"


async def _sale_entry(page: Page, sale_id: str) -> SaleEntry:
    return await queue.sale_entry(page.container.flash_calendar, page.container.read_uow, sale_id)


@router.post("/flash/{sale_id}/join")
async def join(sale_id: str, page: PageDep, form: Form) -> Response:
    sale = await _sale_entry(page, sale_id)
    if page.principal is None:
        return page.redirect(f"/login?next={quote('/p/' + sale.product_id)}", notice="Log in to join the queue.")
    c = page.container
    try:
        ticket = await queue.join_queue(
            room=c.waiting_room, calendar=c.flash_calendar, read_uow=c.read_uow, policy=c.queue_policy,
            sale_id=sale_id, buyer_id=page.principal.user_id, arrived=arrival_time(page.request.scope),
        )  # fmt: skip
    except DomainError as exc:
        return page.redirect(f"/p/{quote(sale.product_id)}", notice=exc.message)
    return page.redirect(_queue_url(sale_id, ticket.ticket))


async def _look(page: Page, sale_id: str, ticket: str) -> TicketRead:
    c = page.container
    user = page.require_user()
    return await queue.look_ticket(
        room=c.waiting_room, calendar=c.flash_calendar, read_uow=c.read_uow, policy=c.queue_policy,
        sale_id=sale_id, ticket_id=ticket, buyer_id=user.user_id,
    )  # fmt: skip


@router.get("/flash/{sale_id}/queue/{ticket}")
async def waiting_page(sale_id: str, ticket: str, page: PageDep) -> Response:
    status = await _look(page, sale_id, ticket)
    sale = await _sale_entry(page, sale_id)
    response = await page.render("flash_queue.html", sale=sale, t=status)
    if status.status == "waiting":
        response.headers["Refresh"] = str(status.poll_after_seconds * 2)  # without JavaScript, it reloads itself
    return response


@router.get("/flash/{sale_id}/queue/{ticket}/status")
async def waiting_status(sale_id: str, ticket: str, page: PageDep) -> Response:
    """The fragment htmx swaps in; once admitted (or out), it stops polling."""
    status = await _look(page, sale_id, ticket)
    sale = await _sale_entry(page, sale_id)
    return await page.render("_flash_ticket.html", sale=sale, t=status)


@router.post("/flash/{sale_id}/queue/{ticket}/leave")
async def leave(sale_id: str, ticket: str, page: PageDep, form: Form) -> Response:
    user = page.require_user()
    sale = await _sale_entry(page, sale_id)
    await queue.leave_queue(room=page.container.waiting_room, sale_id=sale_id, ticket_id=ticket, buyer_id=user.user_id)
    return page.redirect(f"/p/{quote(sale.product_id)}", notice="You left the queue.")


@router.post("/flash/{sale_id}/hold")
async def hold(sale_id: str, page: PageDep, form: Form) -> Response:
    """An admitted buyer holds units with their admission, then goes straight to checkout."""
    user = page.require_user()
    c = page.container
    sale = await _sale_entry(page, sale_id)
    ticket = str(form.get("ticket") or "")[:32]
    quantity = str(form.get("quantity") or "1")
    try:
        await holds.hold_in_line(
            line=c.sale_hold_line, uow_factory=c.uow,
            secret=c.settings.secret_key, admission_token=str(form.get("admission_token") or "")[:300],
            offer_id=sale.offer_id, buyer_id=user.user_id,
            quantity=min(max(whole_number(quantity, digits=3) or 1, 1), 100),
            ttl=c.hold_durations.ttl([sale.offer_id], cap=c.settings.flash_hold_ttl_seconds),
            sold_out=c.sold_out, room=c.waiting_room,
            limits=c.hold_limits, calendar=c.flash_calendar,
        )  # fmt: skip
    except DomainError as exc:
        target = _queue_url(sale_id, ticket) if ticket else f"/p/{quote(sale.product_id)}"
        return page.redirect(target, notice=exc.message)
    return page.redirect(f"/flash/{quote(sale_id)}/checkout")


async def _checkout_page(
    page: Page, sale_id: str, *, form: object = None, status_code: int = 200, **extra: object
) -> Response:
    user = page.require_user()
    sale = await _sale_entry(page, sale_id)
    async with page.container.read_uow() as uow:
        held = await holds.buyer_holds(uow=uow, buyer_id=user.user_id, sale_id=sale_id)
        book = await addresses.list_addresses(uow=uow, user_id=user.user_id)
        offer = (await catalog.offer_facts(uow=uow, offer_ids=[sale.offer_id])).get(sale.offer_id)
    default = next((a.id for a in book if a.default), "new")
    return await page.render(
        "flash_checkout.html",
        status_code=status_code,
        sale=sale,
        held=held,
        units=sum(h.quantity for h in held),
        pays=flash_sales.price_paid(sale.price_amount, offer.price_amount if offer else None),
        book=book,
        chosen=default,
        methods=METHODS,
        key=new_id(),
        errors=extra.pop("errors", {}),
        **extra,
    )


@router.get("/flash/{sale_id}/checkout")
async def checkout_form(sale_id: str, page: PageDep) -> Response:
    return await _checkout_page(page, sale_id)


@router.post("/flash/{sale_id}/checkout")
async def checkout_submit(sale_id: str, page: PageDep, form: Form) -> Response:
    user = page.require_user()
    chosen = str(form.get("shipping_method") or "standard")
    try:
        where: Where = _where(page, form)
        request = CheckoutRequest(
            **where.fields(),
            shipping_method=chosen if chosen in METHODS else "standard",
            payment=_card(form),
            flash_sale_id=sale_id,
        )
    except ValidationError as exc:
        return await _checkout_page(page, sale_id, status_code=422, errors=field_errors(exc))
    key = str(form.get("idempotency_key") or "") or None
    try:
        result = await checkout.start_checkout(
            deps=page.container.saga_deps(), user_id=user.user_id, idempotency_key=key, request=request
        )
    except DomainError as exc:
        return await _checkout_page(page, sale_id, status_code=422, error=exc.message)
    return page.redirect(f"/checkout/{quote(result.id)}")
