"""Account pages: log in (the anonymous cart merges), register, log out; order history, an order, cancel, return."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from bazaar.accounts import service as accounts
from bazaar.accounts.schemas import LoginRequest, UserCreate
from bazaar.cart import service as carts
from bazaar.disputes import queries as disputes
from bazaar.kernel.errors import DomainError, NotAuthenticated, ValidationFailed
from bazaar.orders import queries as orders
from bazaar.orders import returns
from bazaar.orders import service as order_service
from bazaar.orders.schemas import ReturnLineIn
from bazaar.reviews import service as reviews
from bazaar.web.api.deps import client_ip
from bazaar.web.storefront.pages.common import (
    CART_COOKIE,
    SESSION_COOKIE,
    Form,
    Page,
    PageDep,
    PageRoute,
    field_errors,
    set_cookie,
    whole_number,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site: an absolute or scheme-relative URL would make login an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
async def login_form(page: PageDep) -> Response:
    nxt = safe_next(page.request.query_params.get("next"))
    return await page.render("login.html", next=nxt, typed={}, errors={})


async def _sign_in(page: Page, email: str, password: str, nxt: str) -> Response:
    c, limits = page.container, page.container.settings
    await c.limiter.hit("login-ip", client_ip(page.request), limit=limits.login_ip_limit_per_minute)
    await c.limiter.hit("login-email", email.lower(), limit=limits.login_limit_per_minute)
    async with c.uow() as uow:
        result = await accounts.login(
            uow=uow,
            passwords=c.passwords,
            email=email,
            password=password,
            token_ttl=timedelta(days=limits.token_ttl_days),
        )
    async with c.uow() as uow:
        await carts.merge_carts(
            uow=uow,
            store=c.carts,
            cache=c.cache,
            user_id=result.user.id,
            anonymous_cart_id=page.request.cookies.get(CART_COOKIE),
        )
    response = page.redirect(nxt)
    set_cookie(page.request, response, SESSION_COOKIE, result.token, max_age=limits.token_ttl_days * 86400)
    response.delete_cookie(CART_COOKIE, path="/")
    return response


@router.post("/login")
async def login(page: PageDep, form: Form) -> Response:
    typed = {"email": str(form.get("email") or "")}
    nxt = safe_next(str(form.get("next") or "/"))
    try:
        body = LoginRequest(email=typed["email"].strip(), password=str(form.get("password") or ""))
        return await _sign_in(page, str(body.email), body.password, nxt)
    except ValidationError as exc:
        return await page.render("login.html", status_code=422, next=nxt, typed=typed, errors=field_errors(exc))
    except NotAuthenticated:
        errors = {"form": "That email and password do not match an account."}
        return await page.render("login.html", status_code=401, next=nxt, typed=typed, errors=errors)


@router.get("/register")
async def register_form(page: PageDep) -> Response:
    nxt = safe_next(page.request.query_params.get("next"))
    return await page.render("register.html", next=nxt, typed={}, errors={})


@router.post("/register")
async def register(page: PageDep, form: Form) -> Response:
    typed = {"email": str(form.get("email") or ""), "name": str(form.get("name") or "")}
    nxt = safe_next(str(form.get("next") or "/"))
    c = page.container
    try:
        body = UserCreate(email=typed["email"].strip(), password=str(form.get("password") or ""), name=typed["name"])
        await c.limiter.hit("register-ip", client_ip(page.request), limit=c.settings.register_limit_per_minute)
        await c.limiter.hit("register-email", str(body.email).lower(), limit=c.settings.register_email_limit_per_minute)
        async with c.uow() as uow:
            await accounts.register_user(
                uow=uow, passwords=c.passwords, email=str(body.email), password=body.password, name=body.name
            )
        return await _sign_in(page, str(body.email), body.password, nxt)
    except ValidationError as exc:
        return await page.render("register.html", status_code=422, next=nxt, typed=typed, errors=field_errors(exc))
    except DomainError as exc:
        return await page.render("register.html", status_code=409, next=nxt, typed=typed, errors={"form": exc.message})


@router.post("/logout")
async def logout(page: PageDep, form: Form) -> Response:
    if page.principal is not None:
        async with page.container.uow() as uow:
            await accounts.logout(uow=uow, principal=page.principal, sessions=page.container.sessions)
    response = page.redirect("/", notice="You are logged out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/orders")
async def order_history(page: PageDep) -> Response:
    user = page.require_user()
    asked = page.request.query_params.get("page", "1")
    number = max(1, min(whole_number(asked) or 1, 10_000))
    async with page.container.read_uow() as uow:
        listing = await orders.list_orders(uow=uow, user_id=user.user_id, seller_id=None, page=number, per_page=20)
    return await page.render("orders.html", listing=listing)


@router.get("/orders/{order_id}")
async def order_page(order_id: str, page: PageDep) -> Response:
    access = page.request.query_params.get("access", "")[:128]
    async with page.container.read_uow() as uow:
        if access:  # a guest's order, through the link in its confirmation
            secret = page.container.settings.secret_key
            order = await orders.get_order_by_access(uow=uow, order_id=order_id, token=access, secret=secret)
        else:
            user = page.require_user()
            order = await orders.get_order(uow=uow, order_id=order_id, user_id=user.user_id, seller_id=None)
        order = await disputes.with_disputes(uow=uow, order=order)
        reviewable: set[str] = set()
        if not access:  # a line is reviewable once delivered, whatever the rest of the order is doing
            product_ids = [line.product_id for line in order.lines]
            reviewable = await reviews.can_review(uow=uow, author_id=order.buyer_id, product_ids=product_ids)
    error = page.request.query_params.get("error")
    return await page.render("order.html", order=order, error=error, guest_view=bool(access), reviewable=reviewable)


@router.post("/orders/{order_id}/cancel")
async def cancel(order_id: str, page: PageDep, form: Form) -> Response:
    user = page.require_user()
    try:
        async with page.container.uow() as uow:
            payments = page.container.order_payments()
            await uow.run(
                lambda: order_service.cancel_order(uow=uow, payments=payments, order_id=order_id, user_id=user.user_id)
            )
    except DomainError as exc:
        return page.redirect(f"/orders/{order_id}", notice=exc.message)
    return page.redirect(f"/orders/{order_id}", notice="Your order is cancelled.")


@router.post("/orders/{order_id}/returns")
async def request_return(order_id: str, page: PageDep, form: Form) -> Response:
    """One quantity field per line (`qty-<line id>`); lines left at 0 stay with the buyer."""
    user = page.require_user()
    try:
        lines = [
            ReturnLineIn(order_line_id=key.removeprefix("qty-"), quantity=whole_number(value) or 0)
            for key, value in form.multi_items()
            if key.startswith("qty-") and str(value).strip() not in {"", "0"}
        ]
        if not lines:
            raise ValidationFailed("choose at least one item to return")
        async with page.container.uow() as uow:
            await returns.request_return(
                uow=uow,
                order_id=order_id,
                user_id=user.user_id,
                lines=lines,
                reason=str(form.get("reason") or "").strip() or "no reason given",
            )
    except (ValidationError, ValueError):
        return page.redirect(f"/orders/{order_id}", notice="Choose how many of each item to return.")
    except DomainError as exc:
        return page.redirect(f"/orders/{order_id}", notice=exc.message)
    return page.redirect(f"/orders/{order_id}", notice="Your return is requested; send the items back to the seller.")
