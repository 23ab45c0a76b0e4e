"""Voucher pages: a buyer applies or removes a code on the cart page; a seller creates and withdraws vouchers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from bazaar.cart import service as carts
from bazaar.kernel.errors import DomainError
from bazaar.promotions import service as promotions
from bazaar.promotions.schemas import VoucherCreate
from bazaar.web.storefront.pages.common import Form, PageDep, PageRoute, field_errors, utc_moment
from bazaar.web.storefront.pages.seller import cents

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.post("/cart/voucher")
async def apply_voucher(page: PageDep, form: Form) -> Response:
    c, code = page.container, str(form.get("code") or "").strip()[:40]
    try:
        async with c.uow() as uow:
            if form.get("remove"):
                await carts.remove_voucher(uow=uow, store=c.carts, cache=c.cache, owner=page.owner, code=code or None)
                return page.redirect("/cart", notice=f"{code.upper()} is removed from your cart.")
            await carts.apply_voucher(uow=uow, store=c.carts, cache=c.cache, owner=page.owner, code=code)
    except DomainError as exc:
        return page.redirect("/cart", notice=f"{code.upper() or 'That code'}: {exc.message}")
    return page.redirect("/cart", notice=f"{code.upper()} is applied.")


def _cents(text: str) -> int:
    """Dollars typed, cents stored; ValueError for what is not a price ("inf" and "1e400" included)."""
    amount = cents(text)
    if amount is None:
        raise ValueError(text)
    return amount


@router.get("/seller/vouchers")
async def seller_vouchers(page: PageDep) -> Response:
    seller_id = page.require_seller()
    async with page.container.read_uow() as uow:
        vouchers = await promotions.list_vouchers(uow=uow, seller_id=seller_id)
    return await page.render("seller/vouchers.html", vouchers=vouchers, typed={}, errors={})


@router.post("/seller/vouchers")
async def create_voucher(page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    fields = ("code", "kind", "value", "min_subtotal", "max_uses", "max_uses_per_buyer", "starts_at", "ends_at")
    typed = {k: str(form.get(k) or "").strip() for k in fields}
    try:
        data = VoucherCreate(
            code=typed["code"],
            kind=typed["kind"],
            value=int(typed["value"]) if typed["kind"] == "percent" else _cents(typed["value"]),
            min_subtotal={"amount": _cents(typed["min_subtotal"])} if typed["min_subtotal"] else None,
            max_uses=int(typed["max_uses"]) if typed["max_uses"] else None,
            max_uses_per_buyer=int(typed["max_uses_per_buyer"]) if typed["max_uses_per_buyer"] else None,
            starts_at=utc_moment(typed["starts_at"]),
            ends_at=utc_moment(typed["ends_at"]),
        )
        async with page.container.uow() as uow:
            await promotions.create_voucher(uow=uow, seller_id=seller_id, data=data)
    except (ValidationError, ValueError, DomainError) as exc:
        if isinstance(exc, ValidationError):
            errors = field_errors(exc)
        else:
            errors = {"form": exc.message if isinstance(exc, DomainError) else "check the numbers and dates"}
        async with page.container.read_uow() as uow:
            vouchers = await promotions.list_vouchers(uow=uow, seller_id=seller_id)
        return await page.render("seller/vouchers.html", status_code=422, vouchers=vouchers, typed=typed, errors=errors)
    return page.redirect("/seller/vouchers", notice=f"Voucher {typed['code'].upper()} is created.")


@router.post("/seller/vouchers/{voucher_id}/disable")
async def disable_voucher(voucher_id: str, page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    try:
        async with page.container.uow() as uow:
            await promotions.disable_voucher(uow=uow, seller_id=seller_id, voucher_id=voucher_id)
    except DomainError as exc:
        return page.redirect("/seller/vouchers", notice=exc.message)
    return page.redirect("/seller/vouchers", notice="The voucher is withdrawn.")
