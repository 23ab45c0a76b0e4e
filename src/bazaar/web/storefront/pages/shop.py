"""Cart and checkout pages: add, change and remove lines; quote, place the order and see it confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as quote_url

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from bazaar.addresses import service as addresses
from bazaar.addresses.schemas import AddressCreate, AddressRead
from bazaar.cart import service as carts
from bazaar.cart.schemas import CartItemAdd, CartItemUpdate, CartRead
from bazaar.checkout import guest
from bazaar.checkout import service as checkout
from bazaar.checkout.schemas import CardInput, CheckoutRead, CheckoutRequest, QuoteRead, QuoteRequest
from bazaar.kernel.errors import DomainError
from bazaar.kernel.ids import new_id
from bazaar.recommendations import service as recommendations
from bazaar.shipping.addresses import ShippingAddress
from bazaar.shipping.rates import METHODS
from bazaar.web.api.deps import client_ip
from bazaar.web.storefront.pages.common import (
    CART_COOKIE,
    Form,
    Page,
    PageDep,
    PageRoute,
    field_errors,
    set_cookie,
    whole_number,
)

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
        also = await recommendations.for_cart(uow=uow, product_ids=[i.product_id for i in cart.items if i.product_id])
    return await page.render("cart.html", cart=cart, cart_count=sum(i.quantity for i in cart.items), also=also)


@router.post("/cart/add")
async def add_to_cart(page: PageDep, form: Form) -> Response:
    try:
        quantity = whole_number(form.get("quantity") or 1) or 0
        body = CartItemAdd(offer_id=str(form.get("offer_id", "")), quantity=quantity)
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
        wanted = 0 if form.get("remove") else whole_number(form.get("quantity") or 0)
        if wanted is None:
            raise ValueError("quantity")
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


def _typed(form: FormData | None, book: list[AddressRead]) -> dict[str, str]:
    fields = (*ADDRESS_FIELDS, "shipping_method", "exp_month", "exp_year", "email", "address_id")
    typed = {k: str(form.get(k) or "") for k in fields} if form is not None else {}
    for flag in ("save_address", "make_default"):
        typed[flag] = "1" if form is not None and form.get(flag) else ""
    typed["country"] = typed.get("country") or "US"
    if not typed.get("address_id"):
        default = next((a.id for a in book if a.default), None)
        typed["address_id"] = default if default and form is None else "new"
    return typed


def _address(form: FormData) -> ShippingAddress:
    data = {k: str(form.get(k) or "").strip() for k in ADDRESS_FIELDS}
    return ShippingAddress.model_validate({**data, "line2": data["line2"] or None})


async def _book(page: Page) -> list[AddressRead]:
    if page.principal is None:
        return []
    async with page.container.read_uow() as uow:
        return await addresses.list_addresses(uow=uow, user_id=page.principal.user_id)


async def _checkout_page(
    page: Page, *, form: FormData | None, quote: QuoteRead | None = None, key: str | None = None, **extra: Any
) -> Response:
    async with page.container.read_uow() as uow:
        cart = await carts.get_cart(uow=uow, store=page.container.carts, cache=page.container.cache, owner=page.owner)
    book = await _book(page)
    status = 422 if extra.get("error") or extra.get("errors") else 200
    return await page.render(
        "checkout.html",
        status_code=status,
        cart=cart,
        quote=quote,
        book=book,
        typed=_typed(form, book),
        methods=METHODS,
        key=key or new_id(),  # a fresh key per form: a double submit of this form never orders twice
        errors=extra.pop("errors", {}),
        **extra,
    )


@router.get("/checkout")
async def checkout_form(page: PageDep) -> Response:
    """Logged in, or as a guest with an email (the anonymous cart in the cookie is what is ordered)."""
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


@dataclass(frozen=True)
class Where:
    """Where the buyer asked to ship: a saved address (its id) or the address typed in the form."""

    address: ShippingAddress | None = None
    address_id: str | None = None

    def fields(self) -> dict[str, Any]:
        return {"shipping_address": self.address, "shipping_address_id": self.address_id}


def _where(page: Page, form: FormData) -> Where:
    chosen = str(form.get("address_id") or "new")
    if page.principal is not None and chosen != "new":
        return Where(address_id=chosen[:32])
    return Where(address=_address(form))


async def _quote(page: Page, where: Where, method: str | None, per_seller: dict[str, str] | None) -> QuoteRead:
    request = QuoteRequest(**where.fields(), shipping_method=method, shipping_methods=per_seller)
    user_id = page.principal.user_id if page.principal else None
    guest_cart = None if page.principal else page.owner.cart_id or ""
    async with page.container.read_uow() as uow:
        return await checkout.quote_checkout(uow=uow, user_id=user_id, request=request, guest_cart_id=guest_cart)


async def _quote_or_none(
    page: Page, where: Where, method: str | None, per_seller: dict[str, str] | None
) -> QuoteRead | None:
    try:
        return await _quote(page, where, method, per_seller)
    except DomainError:
        return None


def _card(form: FormData) -> CardInput:
    month, year = str(form.get("exp_month") or "0"), str(form.get("exp_year") or "0")
    return CardInput(
        card_number=str(form.get("card_number") or ""),
        exp_month=whole_number(month, digits=4) or 0,
        exp_year=whole_number(year, digits=4) or 0,
        cvc=str(form.get("cvc") or ""),
    )


async def _save_address(page: Page, form: FormData, where: Where) -> None:
    """ "Save this address": kept in the book once (typing the same address again adds nothing)."""
    if page.principal is None or where.address is None or not form.get("save_address"):
        return
    book = await _book(page)
    if any(a.address() == where.address for a in book):
        return
    data = AddressCreate(**where.address.model_dump(), default=bool(form.get("make_default")))
    try:
        async with page.container.uow() as uow:
            await addresses.add_address(uow=uow, user_id=page.principal.user_id, data=data)
    except DomainError:  # a full address book does not spoil a placed order
        pass


async def _place(page: Page, form: FormData, request: CheckoutRequest, key: str | None) -> CheckoutRead:
    c = page.container
    if page.principal is not None:
        return await checkout.start_checkout(
            deps=c.saga_deps(), user_id=page.principal.user_id, idempotency_key=key, request=request
        )
    s = c.settings
    await c.limiter.hit("guest-checkout-ip", client_ip(page.request), limit=s.guest_checkout_limit_per_minute)
    if request.email:
        await c.limiter.hit("guest-checkout-email", request.email, limit=s.guest_checkout_email_limit_per_minute)
    return await guest.start_guest_checkout(
        deps=c.saga_deps(), secret=s.secret_key, cart_id=page.owner.cart_id, idempotency_key=key, request=request
    )


@router.post("/checkout")
async def checkout_submit(page: PageDep, form: Form) -> Response:
    """`action=quote` prices the cart for the chosen address; `action=place` places the order."""
    key = str(form.get("idempotency_key") or "") or None
    chosen = str(form.get("shipping_method") or "")
    method = chosen if chosen in METHODS else None
    per_seller = _seller_methods(form, method)
    try:
        where = _where(page, form)
    except ValidationError as exc:
        return await _checkout_page(page, form=form, key=key, errors=field_errors(exc))
    if form.get("action") != "place":
        try:
            priced = await _quote(page, where, method, per_seller)
        except DomainError as exc:
            return await _checkout_page(page, form=form, key=key, error=exc.message)
        return await _checkout_page(page, form=form, quote=priced, key=key)
    try:
        email = None if page.principal else (str(form.get("email") or "").strip() or None)
        request = CheckoutRequest(
            **where.fields(),
            shipping_method=method or "standard",
            shipping_methods=per_seller,
            payment=_card(form),
            email=email,
        )
    except ValidationError as exc:
        quote = await _quote_or_none(page, where, method, per_seller)
        return await _checkout_page(page, form=form, quote=quote, key=key, errors=field_errors(exc))
    try:
        # The same key and form answer the first result: a double submit lands on the same order.
        result = await _place(page, form, request, key)
    except DomainError as exc:  # declined, sold out: the form comes back as typed, with a new key for the retry
        quote = await _quote_or_none(page, where, method, per_seller)
        return await _checkout_page(page, form=form, quote=quote, error=exc.message)
    await _save_address(page, form, where)
    if result.access_token:
        return page.redirect(f"/checkout/{result.id}?access={quote_url(result.access_token)}")
    return page.redirect(f"/checkout/{result.id}")


@router.get("/checkout/{checkout_id}")
async def confirmation(checkout_id: str, page: PageDep) -> Response:
    access = page.request.query_params.get("access", "")[:128]
    async with page.container.read_uow() as uow:
        if access:  # a guest's confirmation, through its access link
            secret = page.container.settings.secret_key
            result = await guest.get_guest_checkout(uow=uow, checkout_id=checkout_id, token=access, secret=secret)
        else:
            user = page.require_user()
            result = await checkout.get_checkout_read(uow=uow, checkout_id=checkout_id, user_id=user.user_id)
    return await page.render("confirmation.html", checkout=result)
