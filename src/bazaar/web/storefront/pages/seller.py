"""The seller center: dashboard figures and notifications, listing products and offers, price and stock,
shipping orders with tracking, and receiving returns."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from bazaar.accounts import service as accounts
from bazaar.accounts.schemas import SellerCreate
from bazaar.catalog import queries as catalog_queries
from bazaar.catalog import service as catalog
from bazaar.catalog.page_cache import ProductPages
from bazaar.catalog.schemas import (
    CategoryNode,
    MoneyModel,
    OfferCreate,
    OfferUpdate,
    ProductCreate,
    ProductPage,
    SkuCreate,
)
from bazaar.disputes import queries as dispute_queries
from bazaar.disputes import service as disputes
from bazaar.disputes.schemas import EvidenceIn
from bazaar.inventory.hold_times import hold_report
from bazaar.kernel.errors import DomainError, NotFound
from bazaar.kernel.money import MAX_AMOUNT
from bazaar.ledger import service as ledger
from bazaar.notifications import service as notifications
from bazaar.orders import queries as orders
from bazaar.orders import returns
from bazaar.orders.schemas import ShipmentCreate, TrackingEventCreate
from bazaar.shipping import service as shipping
from bazaar.web.storefront.pages.common import Form, Page, PageDep, PageRoute, field_errors, whole_number

router = APIRouter(prefix="/seller", route_class=PageRoute, include_in_schema=False)


def cents(value: object) -> int | None:
    """A price typed in dollars ("12.5", "$1,299.99") as minor units; None if it is not a price."""
    text = str(value or "").strip().lstrip("$").replace(",", "")
    if len(text) > 32:
        return None
    try:
        amount = Decimal(text)
        if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT / 100 or amount != round(amount, 2):
            return None
        return int(amount * 100)
    except (InvalidOperation, ValueError, OverflowError):
        return None


def _whole(value: object) -> int | None:
    return whole_number(value)


@router.get("")
async def dashboard(page: PageDep) -> Response:
    user = page.require_user()
    if user.seller_id is None:
        return await page.render("seller/join.html", typed={}, errors={})
    seller_id = user.seller_id
    async with page.container.read_uow() as uow:
        stats = await notifications.seller_stats(uow=uow, seller_id=seller_id)
        inbox = await notifications.list_notifications(uow=uow, user_id=user.user_id, page=1, per_page=10)
        to_ship = await orders.list_orders(uow=uow, user_id=None, seller_id=seller_id, page=1, per_page=20)
        offers = await catalog_queries.seller_offers(uow=uow, seller_id=seller_id, page=1, per_page=50)
        holds = await hold_report(uow=uow, policy=page.container.hold_durations.policy, seller_id=seller_id, top=10)
        balance = await ledger.balance(uow=uow, seller_id=seller_id)
    titles = await _titles(page, {o.product_id for o in offers.items})
    return await page.render(
        "seller/dashboard.html", stats=stats, inbox=inbox, orders=to_ship, offers=offers, titles=titles, holds=holds,
        balance=balance,
    )  # fmt: skip


async def _titles(page: Page, product_ids: set[str]) -> dict[str, str]:
    """Product titles for the offers table, from the product-page cache the storefront already keeps warm."""
    pages: ProductPages = page.container.extras["product_pages"]
    out: dict[str, str] = {}
    for product_id in product_ids:
        try:
            out[product_id] = ProductPage.model_validate_json((await pages.get(product_id)).body).title
        except NotFound:  # listed, then removed: the table shows its id
            continue
    return out


@router.post("/notifications/read")
async def mark_read(page: PageDep, form: Form) -> Response:
    user = page.require_user()
    async with page.container.uow() as uow:
        count = await notifications.mark_all_read(uow=uow, user_id=user.user_id)
    return page.redirect("/seller", notice=f"{count} notification{'' if count == 1 else 's'} marked read.")


@router.post("/join")
async def join(page: PageDep, form: Form) -> Response:
    user = page.require_user()
    typed = {"display_name": str(form.get("display_name") or "")}
    try:
        body = SellerCreate(display_name=typed["display_name"])
        async with page.container.uow() as uow:
            await accounts.become_seller(
                uow=uow, principal=user, display_name=body.display_name, sessions=page.container.sessions
            )
    except ValidationError as exc:
        return await page.render("seller/join.html", status_code=422, typed=typed, errors=field_errors(exc))
    except DomainError as exc:
        return await page.render("seller/join.html", status_code=409, typed=typed, errors={"form": exc.message})
    return page.redirect("/seller", notice="Welcome to the seller center.")


def _leaves(nodes: list[CategoryNode], trail: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for node in nodes:
        name = f"{trail} › {node.name}" if trail else node.name
        out.extend(_leaves(node.children, name) if node.children else [(node.id, name)])
    return out


async def _product_form(page: Page, *, typed: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    async with page.container.read_uow() as uow:
        tree = await catalog_queries.category_tree(uow=uow)
    return await page.render(
        "seller/new_product.html", status_code=status, categories=_leaves(tree), typed=typed, errors=errors
    )


@router.get("/products/new")
async def new_product(page: PageDep) -> Response:
    page.require_seller()
    return await _product_form(page, typed={"quantity": "1", "shipping_price": "0"}, errors={})


def _listing(form: FormData) -> tuple[ProductCreate, MoneyModel, MoneyModel, int]:
    """The form as a product with one SKU and the seller's offer for it; ValueError names a bad field."""
    option = str(form.get("option") or "").strip()
    attributes = {"option": option} if option else {}
    product = ProductCreate(
        title=str(form.get("title") or ""),
        brand=str(form.get("brand") or ""),
        category_id=str(form.get("category_id") or ""),
        description=str(form.get("description") or ""),
        skus=[SkuCreate(attributes=attributes)],
    )
    price, ship = cents(form.get("price")), cents(form.get("shipping_price") or "0")
    quantity = _whole(form.get("quantity"))
    if price is None:
        raise ValueError("price")
    if ship is None:
        raise ValueError("shipping_price")
    if quantity is None:
        raise ValueError("quantity")
    return product, MoneyModel.of(price), MoneyModel.of(ship), quantity


@router.post("/products")
async def create_product(page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    typed = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    try:
        product, price, ship, quantity = _listing(form)
        # Validated whole, saved in one transaction: a bad offer leaves no product behind.
        offer = OfferCreate(sku_id="new", price=price, shipping_price=ship, quantity=quantity)
        async with page.container.uow() as uow:
            created = await catalog.list_product(uow=uow, seller_id=seller_id, product=product, offer=offer)
    except ValidationError as exc:
        return await _product_form(page, typed=typed, errors=field_errors(exc), status=422)
    except ValueError as exc:
        errors = {str(exc): "enter an amount such as 12.99" if str(exc) != "quantity" else "enter a whole number"}
        return await _product_form(page, typed=typed, errors=errors, status=422)
    except DomainError as exc:
        return await _product_form(page, typed=typed, errors={"form": exc.message}, status=422)
    return page.redirect(f"/p/{created.id}", notice="Your product is listed.")


@router.post("/offers/{offer_id}")
async def update_offer(offer_id: str, page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    price, quantity = cents(form.get("price")), _whole(form.get("quantity"))
    if price is None or quantity is None:
        return page.redirect("/seller", notice="Enter a price such as 12.99 and a whole number of units.")
    try:
        data = OfferUpdate(price=MoneyModel.of(price), quantity=quantity)
        async with page.container.uow() as uow:
            await uow.run(lambda: catalog.update_offer(uow=uow, seller_id=seller_id, offer_id=offer_id, data=data))
    except ValidationError:
        return page.redirect("/seller", notice="That price or quantity is out of range.")
    return page.redirect("/seller", notice="Price and stock saved.")


@router.get("/orders/{order_id}")
async def seller_order(order_id: str, page: PageDep) -> Response:
    seller_id = page.require_seller()
    user = page.require_user()
    async with page.container.read_uow() as uow:
        order = await orders.get_order(uow=uow, order_id=order_id, user_id=user.user_id, seller_id=seller_id)
        found = await dispute_queries.list_disputes(uow=uow, seller_id=seller_id, status=None, page=1, per_page=100)
        balance = await ledger.balance(uow=uow, seller_id=seller_id)
    mine = [d for d in found.items if d.order_id == order_id]
    return await page.render("seller/order.html", order=order, disputes=mine, balance=balance)


@router.post("/disputes/{dispute_id}/evidence")
async def dispute_evidence(dispute_id: str, page: PageDep, form: Form) -> Response:
    """The seller's answer to a chargeback, forwarded to the payment provider."""
    seller_id = page.require_seller()
    order_id = str(form.get("order_id") or "")[:64]
    back = f"/seller/orders/{order_id}" if order_id.isalnum() else "/seller"
    try:
        body = EvidenceIn(text=str(form.get("text") or ""))
        async with page.container.uow() as uow:
            await disputes.submit_evidence(
                uow=uow, gateway=page.container.payments, seller_id=seller_id, dispute_id=dispute_id, text=body.text
            )
    except ValidationError:
        return page.redirect(back, notice="Write your evidence first.")
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return page.redirect(back, notice=f"Not sent: {exc.message}.")
    return page.redirect(back, notice="Evidence sent: the dispute is under review.")


@router.post("/orders/{order_id}/ship")
async def ship(order_id: str, page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    try:
        body = ShipmentCreate(
            line_ids=[str(v) for v in form.getlist("line_id")],
            carrier=str(form.get("carrier") or ""),
            tracking_number=str(form.get("tracking_number") or ""),
        )
        async with page.container.uow() as uow:
            await shipping.create_shipment(
                uow=uow,
                seller_id=seller_id,
                order_id=order_id,
                line_ids=body.line_ids,
                carrier=body.carrier,
                tracking_number=body.tracking_number,
            )
    except ValidationError:
        notice = "Tick the items in the parcel and give the carrier and a tracking number (letters, digits, dashes)."
        return page.redirect(f"/seller/orders/{order_id}", notice=notice)
    except DomainError as exc:
        return page.redirect(f"/seller/orders/{order_id}", notice=exc.message)
    return page.redirect(f"/seller/orders/{order_id}", notice="Marked as shipped.")


@router.post("/shipments/{shipment_id}/events")
async def tracking_event(shipment_id: str, page: PageDep, form: Form) -> Response:
    """The carrier's news entered by hand (in transit, out for delivery, delivered), as its webhook would."""
    seller_id = page.require_seller()
    order_id = str(form.get("order_id") or "")
    target = f"/seller/orders/{order_id}" if order_id.isalnum() else "/seller"
    try:
        body = TrackingEventCreate(
            status=str(form.get("status") or ""), location=str(form.get("location") or "") or None
        )
        async with page.container.uow() as uow:
            await shipping.record_tracking_event(
                uow=uow,
                shipment_id=shipment_id,
                seller_id=seller_id,
                is_admin=False,
                status=body.status,
                at=None,
                location=body.location,
            )
    except ValidationError:
        return page.redirect(target, notice="Choose in transit, out for delivery or delivered.")
    except DomainError as exc:
        return page.redirect(target, notice=exc.message)
    return page.redirect(target, notice="Tracking updated.")


@router.post("/returns/{return_id}/receive")
async def receive(return_id: str, page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    order_id = str(form.get("order_id") or "")
    target = f"/seller/orders/{order_id}" if order_id.isalnum() else "/seller"
    try:
        async with page.container.uow() as uow:
            payments = page.container.order_payments()
            await uow.run(
                lambda: returns.receive_return(uow=uow, payments=payments, return_id=return_id, seller_id=seller_id)
            )
    except DomainError as exc:
        return page.redirect(target, notice=exc.message)
    return page.redirect(target, notice="Return received; the buyer is refunded.")
