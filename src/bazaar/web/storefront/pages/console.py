"""The operator's console under /admin/: figures, sellers, products, orders, disputes, reviews, commission and
payouts. Server-rendered like the storefront; every form posts with its CSRF token and calls the same admin
services as the /api/v1/admin API (so the audit trail is the same)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from bazaar.accounts.schemas import Principal
from bazaar.admin import queries, service
from bazaar.admin.schemas import ReasonIn, RefundIn
from bazaar.catalog import queries as catalog
from bazaar.disputes import queries as disputes
from bazaar.kernel import errors as e
from bazaar.kernel.schemas import MoneyModel
from bazaar.ledger import payouts as ledger_payouts
from bazaar.ledger import queries as ledger_queries
from bazaar.ledger import service as ledger
from bazaar.reviews import service as reviews
from bazaar.web.storefront.pages.common import Form, Page, PageDep, PageRoute, whole_number
from bazaar.web.storefront.pages.seller import cents

router = APIRouter(prefix="/admin", route_class=PageRoute, include_in_schema=False)
PER_PAGE = 25
ORDER_STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled", "returned")


def operator(page: Page) -> Principal:
    user = page.require_user()
    if not user.has_role("admin"):
        raise e.Forbidden("this page is for the marketplace's operators")
    return user


def _page_no(page: Page) -> int:
    raw = page.request.query_params.get("page", "1")
    return max(1, min(10_000, whole_number(raw) or 1))


def _arg(page: Page, name: str, allowed: tuple[str, ...] | None = None) -> str | None:
    value = (page.request.query_params.get(name) or "").strip()[:320] or None
    return value if value is None or allowed is None or value in allowed else None


async def _reason(form: Any, page: Page, back: str) -> str | Response:
    try:
        return ReasonIn(reason=str(form.get("reason") or "")).reason
    except ValidationError:
        return page.redirect(back, notice="Say why: a reason is required (it goes into the audit trail).")


@router.get("")
async def dashboard(page: PageDep) -> Response:
    operator(page)
    async with page.container.read_uow() as uow:
        stats = await queries.stats(uow=uow)
        runs = await ledger_queries.payout_runs(uow=uow, limit=5)
        trail = await queries.audit_trail(uow=uow, target_kind=None, target_id=None, page=1, per_page=10)
    return await page.render("admin/dashboard.html", stats=stats, runs=runs, trail=trail, section="dashboard")


@router.get("/sellers")
async def sellers(page: PageDep) -> Response:
    operator(page)
    status = _arg(page, "status", ("active", "suspended"))
    async with page.container.read_uow() as uow:
        found = await queries.list_sellers(uow=uow, status=status, page=_page_no(page), per_page=PER_PAGE)
        trail = await queries.audit_trail(uow=uow, target_kind="seller", target_id=None, page=1, per_page=15)
    return await page.render("admin/sellers.html", sellers=found, status=status, trail=trail, section="sellers")


@router.post("/sellers/{seller_id}/{action}")
async def seller_action(seller_id: str, action: str, page: PageDep, form: Form) -> Response:
    admin = operator(page)
    if action not in ("suspend", "reinstate"):
        raise e.NotFound("no such action")
    reason = await _reason(form, page, "/admin/sellers")
    if isinstance(reason, Response):
        return reason
    async with page.container.uow() as uow:
        if action == "suspend":
            seller = await service.suspend_seller(uow=uow, admin=admin, seller_id=seller_id, reason=reason)
        else:
            seller = await service.reinstate_seller(uow=uow, admin=admin, seller_id=seller_id, reason=reason)
    verb = "suspended: its offers leave the shop" if action == "suspend" else "reinstated: its offers are back"
    return page.redirect("/admin/sellers", notice=f"{seller.display_name} {verb}.")


@router.get("/products")
async def products(page: PageDep) -> Response:
    operator(page)
    status, q = _arg(page, "status", ("active", "taken_down")), _arg(page, "q")
    async with page.container.read_uow() as uow:
        items, total = await catalog.operator_products(
            uow=uow, status=status, q=q, page=_page_no(page), per_page=PER_PAGE
        )
    return await page.render(
        "admin/products.html", items=items, total=total, status=status, q=q or "", page_no=_page_no(page),
        section="products",
    )  # fmt: skip


@router.post("/products/{product_id}/{action}")
async def product_action(product_id: str, action: str, page: PageDep, form: Form) -> Response:
    admin = operator(page)
    if action not in ("takedown", "restore"):
        raise e.NotFound("no such action")
    reason = await _reason(form, page, "/admin/products") if action == "takedown" else ""
    if isinstance(reason, Response):
        return reason
    async with page.container.uow() as uow:
        await service.take_down_product(
            uow=uow, admin=admin, product_id=product_id, reason=reason, restore=action == "restore"
        )
    done = "taken down: its page answers 404" if action == "takedown" else "restored"
    return page.redirect(f"/admin/products?q={product_id}", notice=f"Product {product_id} {done}.")


@router.get("/orders")
async def orders(page: PageDep) -> Response:
    operator(page)
    status, buyer, seller = _arg(page, "status", ORDER_STATUSES), _arg(page, "buyer"), _arg(page, "seller")
    async with page.container.read_uow() as uow:
        found = await queries.list_orders(
            uow=uow, status=status, buyer=buyer, seller=seller, page=_page_no(page), per_page=PER_PAGE
        )
    return await page.render(
        "admin/orders.html", orders=found, status=status, buyer=buyer or "", seller=seller or "",
        statuses=ORDER_STATUSES, section="orders",
    )  # fmt: skip


@router.get("/orders/{order_id}")
async def order(order_id: str, page: PageDep) -> Response:
    operator(page)
    async with page.container.read_uow() as uow:
        found = await queries.get_order(uow=uow, order_id=order_id)
        refunds = await service.goodwill_refunds(uow=uow, order_id=order_id)
        trail = await queries.audit_trail(uow=uow, target_kind="order", target_id=order_id, page=1, per_page=20)
    return await page.render("admin/order.html", order=found, refunds=refunds, trail=trail, section="orders")


@router.post("/orders/{order_id}/refund")
async def refund(order_id: str, page: PageDep, form: Form) -> Response:
    admin = operator(page)
    back = f"/admin/orders/{order_id}"
    amount = cents(form.get("amount"))
    try:
        body = RefundIn(amount=MoneyModel(amount=amount or 0, currency="USD"), reason=str(form.get("reason") or ""))
    except ValidationError:
        return page.redirect(back, notice="Give an amount in dollars and a reason.")
    try:
        async with page.container.uow() as uow:
            done = await service.refund_order(
                uow=uow, admin=admin, payments_port=page.container.order_payments(), order_id=order_id,
                amount=body.amount, reason=body.reason,
            )  # fmt: skip
    except e.DomainError as exc:
        if isinstance(exc, e.NotFound):
            raise
        return page.redirect(back, notice=f"Not refunded: {exc.message}.")
    return page.redirect(back, notice=f"Refunded ${done.amount.amount / 100:,.2f} to the buyer.")


@router.get("/disputes")
async def disputes_page(page: PageDep) -> Response:
    operator(page)
    status = _arg(page, "status", ("open", "under_review", "won", "lost"))
    async with page.container.read_uow() as uow:
        found = await disputes.list_disputes(
            uow=uow, seller_id=None, status=status, page=_page_no(page), per_page=PER_PAGE
        )
    return await page.render("admin/disputes.html", disputes=found, status=status, section="disputes")


@router.get("/reviews")
async def reviews_page(page: PageDep) -> Response:
    operator(page)
    status = _arg(page, "status", ("published", "hidden"))
    async with page.container.read_uow() as uow:
        found = await reviews.recent_reviews(uow=uow, status=status, page=_page_no(page), per_page=PER_PAGE)
    return await page.render("admin/reviews.html", reviews=found, status=status, section="reviews")


@router.post("/reviews/{review_id}/{action}")
async def review_action(review_id: str, action: str, page: PageDep, form: Form) -> Response:
    admin = operator(page)
    if action not in ("hide", "show"):
        raise e.NotFound("no such action")
    reason = await _reason(form, page, "/admin/reviews") if action == "hide" else ""
    if isinstance(reason, Response):
        return reason
    async with page.container.uow() as uow:
        await reviews.hide_review(uow=uow, review_id=review_id, reason=reason, hidden=action == "hide")
        service.audit(uow, admin, f"review.{action}", "review", review_id, reason)
        await uow.commit()
    return page.redirect("/admin/reviews", notice="Review hidden." if action == "hide" else "Review shown again.")


@router.get("/commission")
async def commission(page: PageDep) -> Response:
    operator(page)
    async with page.container.read_uow() as uow:
        rates = await ledger.commission_rates(uow=uow)
        roots = await catalog.category_tree(uow=uow)
        names = await catalog.category_names(uow=uow, category_ids=list(rates.categories))
    categories = [(c.id, c.name) for c in roots] + [(k.id, f"{c.name} › {k.name}") for c in roots for k in c.children]
    return await page.render(
        "admin/commission.html", rates=rates, names=names, categories=categories, section="commission"
    )


def _bps(value: object) -> int | None:
    """A percentage typed by a person ("12.5") as basis points; None if it is not one."""
    text = str(value or "").strip().rstrip("%").strip()
    try:
        bps = round(float(text) * 100)
    except ValueError:
        return None
    return bps if 0 <= bps <= 10_000 and text else None


@router.post("/commission")
async def set_commission(page: PageDep, form: Form) -> Response:
    admin = operator(page)
    default = _bps(form.get("default_percent"))
    categories: dict[str, int] = {}
    for category_id, percent in zip(form.getlist("category_id"), form.getlist("category_percent"), strict=False):
        if str(category_id) and str(percent).strip():
            bps = _bps(percent)
            if bps is None:
                return page.redirect("/admin/commission", notice=f"{percent} is not a percentage between 0 and 100.")
            categories[str(category_id)] = bps
    if default is None:
        return page.redirect("/admin/commission", notice="The default rate must be a percentage between 0 and 100.")
    async with page.container.uow() as uow:
        await service.set_commission(uow=uow, admin=admin, default_bps=default, categories=categories)
    return page.redirect("/admin/commission", notice="Commission rates saved: sales captured from now on use them.")


@router.get("/payouts")
async def payouts(page: PageDep) -> Response:
    operator(page)
    async with page.container.read_uow() as uow:
        found = await ledger_queries.payouts(
            uow=uow, seller_id=_arg(page, "seller"), page=_page_no(page), per_page=PER_PAGE
        )
        runs = await ledger_queries.payout_runs(uow=uow, limit=10)
    return await page.render("admin/payouts.html", payouts=found, runs=runs, section="payouts")


@router.post("/payouts/run")
async def run_payouts(page: PageDep, form: Form) -> Response:
    operator(page)
    c = page.container
    report = await ledger_payouts.run_payouts(uow_factory=c.uow, gateway=c.payments, trigger="admin")
    notice = f"Payout run: {report.paid} paid (${report.amount / 100:,.2f}), {report.failed} failed."
    return page.redirect("/admin/payouts", notice=notice)


@router.get("/audit")
async def audit(page: PageDep) -> Response:
    operator(page)
    async with page.container.read_uow() as uow:
        trail = await queries.audit_trail(
            uow=uow, target_kind=None, target_id=_arg(page, "target"), page=_page_no(page), per_page=50
        )
    return await page.render("admin/audit.html", trail=trail, section="audit")
