"""Cart and checkout pages: add, change and remove lines; quote, place the order and see it confirmed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from bazaar.cart import service as carts
from bazaar.cart.schemas import CartItemAdd, CartItemUpdate, CartRead
from bazaar.checkout import service as checkout
from bazaar.checkout.schemas import CardInput, CheckoutRequest, QuoteRead, QuoteRequest
from bazaar.kernel.errors import DomainError
from bazaar.kernel.ids import new_id
from bazaar.shipping.addresses import ShippingAddress
from bazaar.shipping.rates import METHODS
from bazaar.web.storefront.pages.common import CART_COOKIE, Form, Page, PageDep, PageRoute, field_errors, set_cookie

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country")


def _remember(page: Page, response: Response, cart: CartRead) -> Response:
    if page.principal is None and cart.id is not None and page.request.cookies.get(CART_COOKIE) != cart.id:
        set_cookie(page.request, response, CART_COOKIE, cart.id)
    return response


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


@router.get("/cart")
async def cart_page(page: PageDep) -> Response:
    async with page.container.read_uow() as uow:
        cart = await carts.get_cart(uow=uow, store=page.container.carts, cache=page.container.cache, owner=page.owner)
    return await page.render("cart.html", cart=cart, cart_count=sum(i.quantity for i in cart.items))


@router.post("/cart/add")
async def add_to_cart(page: PageDep, form: Form) -> Response:
    try:
        body = CartItemAdd(offer_id=str(form.get("offer_id", "")), quantity=int(str(form.get("quantity") or 1)))
    except (ValidationError, ValueError):
        return page.redirect("/cart", notice="Choose a quantity between 1 and 999.")
    c = page.container
    async with c.uow() as uow:
        cart = await carts.add_item(
            uow=uow, store=c.carts, cache=c.cache, owner=page.owner, offer_id=body.offer_id, quantity=body.quantity
        )
    if _is_htmx(page.request):  # only the header's counter changes
        count = HTMLResponse(str(sum(i.quantity for i in cart.items)))
        return _remember(page, count, cart)
    return _remember(page, page.redirect("/cart", notice="Added to your cart."), cart)


@router.post("/cart/items/{item_id}")
async def change_line(item_id: str, page: PageDep, form: Form) -> Response:
    """Set a line's quantity (0 or the remove button takes it out)."""
    try:
        wanted = 0 if form.get("remove") else int(str(form.get("quantity") or 0))
        body = CartItemUpdate(quantity=wanted)
    except (ValidationError, ValueError):
        return page.redirect("/cart", notice="Choose a quantity between 0 and 999.")
    c = page.container
    async with c.uow() as uow:
        cart = await carts.set_item_quantity(
            uow=uow, store=c.carts, cache=c.cache, owner=page.owner, item_id=item_id, quantity=body.quantity
        )
    if _is_htmx(page.request):
        return await page.render("cart.html", cart=cart, cart_count=sum(i.quantity for i in cart.items))
    return _remember(page, page.redirect("/cart", notice="Your cart is updated."), cart)


def _typed(form: FormData | None) -> dict[str, str]:
    fields = (*ADDRESS_FIELDS, "shipping_method", "exp_month", "exp_year")
    typed = {k: str(form.get(k) or "") for k in fields} if form is not None else {}
    typed.setdefault("country", "US")
    typed["country"] = typed["country"] or "US"
    return typed


def _address(form: FormData) -> ShippingAddress:
    data = {k: str(form.get(k) or "").strip() for k in ADDRESS_FIELDS}
    return ShippingAddress.model_validate({**data, "line2": data["line2"] or None})


async def _checkout_page(
    page: Page, *, form: FormData | None, quote: QuoteRead | None = None, key: str | None = None, **extra: Any
) -> Response:
    async with page.container.read_uow() as uow:
        cart = await carts.get_cart(uow=uow, store=page.container.carts, cache=page.container.cache, owner=page.owner)
    status = 422 if extra.get("error") or extra.get("errors") else 200
    return await page.render(
        "checkout.html",
        status_code=status,
        cart=cart,
        quote=quote,
        typed=_typed(form),
        methods=METHODS,
        key=key or new_id(),  # a fresh key per form: a double submit of this form never orders twice
        errors=extra.pop("errors", {}),
        **extra,
    )


@router.get("/checkout")
async def checkout_form(page: PageDep) -> Response:
    page.require_user()
    return await _checkout_page(page, form=None)


def _seller_methods(form: FormData, method: str | None) -> dict[str, str] | None:
    """Per-seller speeds picked under the summary; a new overall speed starts every seller afresh."""
    if str(form.get("quoted_method") or "") != (method or ""):
        return None
    picked = {
        str(k).removeprefix("ship:"): str(v)
        for k, v in form.multi_items()
        if str(k).startswith("ship:") and str(v) in METHODS and str(v) != method
    }
    return picked or None


async def _quote(
    page: Page, address: ShippingAddress, method: str | None, per_seller: dict[str, str] | None
) -> QuoteRead:
    user = page.require_user()
    request = QuoteRequest(shipping_address=address, shipping_method=method, shipping_methods=per_seller)
    async with page.container.read_uow() as uow:
        return await checkout.quote_checkout(uow=uow, user_id=user.user_id, request=request)


async def _quote_or_none(
    page: Page, address: ShippingAddress, method: str | None, per_seller: dict[str, str] | None
) -> QuoteRead | None:
    try:
        return await _quote(page, address, method, per_seller)
    except DomainError:
        return None


def _card(form: FormData) -> CardInput:
    month, year = str(form.get("exp_month") or "0"), str(form.get("exp_year") or "0")
    return CardInput(
        card_number=str(form.get("card_number") or ""),
        exp_month=int(month) if month.isdigit() else 0,
        exp_year=int(year) if year.isdigit() else 0,
        cvc=str(form.get("cvc") or ""),
    )


@router.post("/checkout")
async def checkout_submit(page: PageDep, form: Form) -> Response:
    """`action=quote` prices the cart for the typed address; `action=place` places the order."""
    user = page.require_user()
    key = str(form.get("idempotency_key") or "") or None
    chosen = str(form.get("shipping_method") or "")
    method = chosen if chosen in METHODS else None
    per_seller = _seller_methods(form, method)
    try:
        address = _address(form)
    except ValidationError as exc:
        return await _checkout_page(page, form=form, key=key, errors=field_errors(exc))
    if form.get("action") != "place":
        try:
            priced = await _quote(page, address, method, per_seller)
        except DomainError as exc:
            return await _checkout_page(page, form=form, key=key, error=exc.message)
        return await _checkout_page(page, form=form, quote=priced, key=key)
    try:
        request = CheckoutRequest(
            shipping_address=address,
            shipping_method=method or "standard",
            shipping_methods=per_seller,
            payment=_card(form),
        )
    except ValidationError as exc:
        quote = await _quote_or_none(page, address, method, per_seller)
        return await _checkout_page(page, form=form, quote=quote, key=key, errors=field_errors(exc))
    try:
        # The same key and form answer the first result: a double submit lands on the same order.
        result = await checkout.start_checkout(
            deps=page.container.saga_deps(), user_id=user.user_id, idempotency_key=key, request=request
        )
    except DomainError as exc:  # declined, sold out: the form comes back as typed, with a new key for the retry
        quote = await _quote_or_none(page, address, method, per_seller)
        return await _checkout_page(page, form=form, quote=quote, error=exc.message)
    return page.redirect(f"/checkout/{result.id}")


@router.get("/checkout/{checkout_id}")
async def confirmation(checkout_id: str, page: PageDep) -> Response:
    user = page.require_user()
    async with page.container.read_uow() as uow:
        result = await checkout.get_checkout_read(uow=uow, checkout_id=checkout_id, user_id=user.user_id)
    return await page.render("confirmation.html", checkout=result)
