"""Buyer pages: the account hub, the address book, the wish list and "notify me", email settings and the
unsubscribe link (which needs no login)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from bazaar.addresses import service as addresses
from bazaar.addresses.schemas import ADDRESS_FIELDS, AddressCreate, AddressUpdate
from bazaar.kernel.errors import DomainError
from bazaar.mail import service as mail
from bazaar.mail.kinds import KINDS
from bazaar.mail.tokens import ALL
from bazaar.notifications import service as notifications
from bazaar.web.storefront.pages.account import safe_next
from bazaar.web.storefront.pages.common import Form, Page, PageDep, PageRoute, field_errors, whole_number
from bazaar.wishlists import service as wishlists

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LABELS = {k.name: k.label for k in KINDS} | {ALL: "All email from Bazaar"}


@router.get("/account")
async def account(page: PageDep) -> Response:
    user = page.require_user()
    async with page.container.read_uow() as uow:
        default = await addresses.default_address(uow=uow, user_id=user.user_id)
        wished = await wishlists.list_wishlist(uow=uow, user_id=user.user_id, page=1, per_page=4)
        seen = await wishlists.recently_viewed(uow=uow, user_id=user.user_id, page=1, per_page=8)
        inbox = await notifications.list_notifications(uow=uow, user_id=user.user_id, page=1, per_page=10)
    return await page.render("account.html", default=default, wished=wished, seen=seen, inbox=inbox)


def _address_form(form: FormData) -> dict[str, object]:
    data: dict[str, object] = {k: str(form.get(k) or "").strip() for k in ADDRESS_FIELDS}
    data["line2"] = data["line2"] or None
    data["label"] = str(form.get("label") or "").strip() or None
    data["default"] = form.get("default") in {"1", "on", "true"}
    return data


async def _address_book(page: Page, status_code: int = 200, **extra: object) -> Response:
    user = page.require_user()
    async with page.container.read_uow() as uow:
        book = await addresses.list_addresses(uow=uow, user_id=user.user_id)
    extra.setdefault("typed", {"country": "US"})
    extra.setdefault("errors", {})
    return await page.render("addresses.html", status_code=status_code, book=book, **extra)


@router.get("/account/addresses")
async def address_book(page: PageDep) -> Response:
    return await _address_book(page)


@router.post("/account/addresses")
async def add_address(page: PageDep, form: Form) -> Response:
    user = page.require_user()
    typed = {k: str(form.get(k) or "") for k in (*ADDRESS_FIELDS, "label")}
    try:
        data = AddressCreate.model_validate(_address_form(form))
        async with page.container.uow() as uow:
            await addresses.add_address(uow=uow, user_id=user.user_id, data=data)
    except ValidationError as exc:
        return await _address_book(page, 422, typed=typed, errors=field_errors(exc))
    except DomainError as exc:
        return await _address_book(page, 409, typed=typed, errors={"form": exc.message})
    nxt = safe_next(str(form.get("next") or "/account/addresses"))
    return page.redirect(nxt, notice="The address is saved.")


@router.post("/account/addresses/{address_id}")
async def change_address(address_id: str, page: PageDep, form: Form) -> Response:
    """`action=default` makes it the default, `action=delete` removes it, else the fields are saved."""
    user = page.require_user()
    action = str(form.get("action") or "save")
    try:
        async with page.container.uow() as uow:
            if action == "delete":
                await addresses.delete_address(uow=uow, user_id=user.user_id, address_id=address_id)
                notice = "The address is deleted."
            elif action == "default":
                await addresses.update_address(
                    uow=uow, user_id=user.user_id, address_id=address_id, data=AddressUpdate(default=True)
                )
                notice = "That is now your default address."
            else:
                data = AddressUpdate.model_validate(_address_form(form))
                await addresses.update_address(uow=uow, user_id=user.user_id, address_id=address_id, data=data)
                notice = "The address is saved."
    except ValidationError:
        return page.redirect("/account/addresses", notice="That address is not complete; nothing was changed.")
    except DomainError as exc:
        return page.redirect("/account/addresses", notice=exc.message)
    return page.redirect("/account/addresses", notice=notice)


@router.get("/wishlist")
async def wishlist(page: PageDep) -> Response:
    user = page.require_user()
    asked = page.request.query_params.get("page", "1")
    number = max(1, min(whole_number(asked) or 1, 10_000))
    async with page.container.read_uow() as uow:
        listing = await wishlists.list_wishlist(uow=uow, user_id=user.user_id, page=number, per_page=24)
        alerts = await wishlists.list_stock_alerts(uow=uow, user_id=user.user_id, page=1, per_page=50)
    return await page.render("wishlist.html", listing=listing, alerts=alerts)


def _back(form: FormData, fallback: str) -> str:
    return safe_next(str(form.get("next") or fallback))


@router.post("/wishlist/{product_id}")
async def change_wishlist(product_id: str, page: PageDep, form: Form) -> Response:
    """`action=add` or `action=remove` a product from the wish list; back to where the button was."""
    user = page.require_user()
    back = _back(form, "/wishlist")
    try:
        async with page.container.uow() as uow:
            if form.get("action") == "remove":
                await wishlists.remove_from_wishlist(uow=uow, user_id=user.user_id, product_id=product_id)
                notice = "Removed from your wish list."
            else:
                await wishlists.add_to_wishlist(uow=uow, user_id=user.user_id, product_id=product_id)
                notice = "Saved to your wish list: we will tell you when it is back in stock or cheaper."
    except DomainError as exc:
        return page.redirect(back, notice=exc.message)
    return page.redirect(back, notice=notice)


@router.post("/notify/{product_id}")
async def notify_me(product_id: str, page: PageDep, form: Form) -> Response:
    """ "Notify me" (`action=cancel` withdraws it)."""
    user = page.require_user()
    back = _back(form, f"/p/{product_id}")
    try:
        async with page.container.uow() as uow:
            if form.get("action") == "cancel":
                await wishlists.cancel_stock_alert(uow=uow, user_id=user.user_id, product_id=product_id)
                notice = "We will not email you about it."
            else:
                await wishlists.request_stock_alert(uow=uow, user_id=user.user_id, product_id=product_id)
                notice = "We will email you once when it is back in stock."
    except DomainError as exc:
        return page.redirect(back, notice=exc.message)
    return page.redirect(back, notice=notice)


@router.get("/account/email")
async def email_settings(page: PageDep) -> Response:
    user = page.require_user()
    async with page.container.read_uow() as uow:
        prefs = await mail.email_preferences(uow=uow, email=user.email)
    return await page.render("email_settings.html", prefs=prefs.email, labels=LABELS)


@router.post("/account/email")
async def save_email_settings(page: PageDep, form: Form) -> Response:
    user = page.require_user()
    wanted = {kind: form.get(f"kind:{kind}") in {"1", "on"} for kind in LABELS if kind != ALL}
    async with page.container.uow() as uow:
        await mail.update_preferences(uow=uow, email=user.email, changes=wanted)
    return page.redirect("/account/email", notice="Your email settings are saved.")


@router.get("/unsubscribe")
async def unsubscribe_page(page: PageDep) -> Response:
    token = page.request.query_params.get("token", "")
    email, kind = mail.describe_unsubscribe(secret=page.container.settings.secret_key, token=token)
    return await page.render("unsubscribe.html", token=token, email=email, label=LABELS[kind], done=False)


@router.post("/unsubscribe")
async def unsubscribe(page: PageDep) -> Response:
    """The link itself is the permission (it is signed), so this takes no login and no form token: a mail app's
    one-click unsubscribe (RFC 8058) posts here from outside the site."""
    token = page.request.query_params.get("token", "")
    async with page.container.uow() as uow:
        email, kind = await mail.unsubscribe(uow=uow, secret=page.container.settings.secret_key, token=token)
    return await page.render("unsubscribe.html", token=token, email=email, label=LABELS[kind], done=True)
