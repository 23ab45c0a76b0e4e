"""The checkout saga: each step is persisted before the next, so any process can resume or undo it.

started -> cart_validated -> inventory_reserved -> priced -> payment_authorized -> completed
(the order is created in the same transaction that commits the reservations), or, on failure,
compensation in reverse order (void the authorization, release the reservations) -> failed.
No database transaction is open while the payment provider is called.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bazaar.cart import service as cart_service
from bazaar.checkout import queries
from bazaar.checkout.discounts import line_discounts
from bazaar.checkout.models import Checkout, CheckoutStep
from bazaar.checkout.ports import CheckoutPayments
from bazaar.checkout.pricing import PricedLine, price_cart, seller_subtotals
from bazaar.checkout.schemas import CardInput
from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales import holds as flash_holds
from bazaar.flash_sales.errors import AdmissionRequired
from bazaar.inventory import service as inventory
from bazaar.inventory.errors import InsufficientStock
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import Conflict, DependencyUnavailable
from bazaar.kernel.payments import CardDetails
from bazaar.kernel.ports import CartStore, SoldOutFlags
from bazaar.orders.service import NewOrderLine, place_order
from bazaar.payments import service as payments
from bazaar.promotions import service as promotions
from bazaar.promotions.errors import VoucherExhausted, VoucherNotActive, VoucherNotApplicable
from bazaar.promotions.service import Discount

log = logging.getLogger("bazaar.checkout")
TERMINAL = frozenset({"completed", "failed"})
BEFORE_PAYMENT = frozenset({"started", "cart_validated", "inventory_reserved"})


class InjectedCrash(RuntimeError):
    """Raised by the test hook to simulate a process dying right after a step was persisted."""


@dataclass
class SagaDeps:
    uow_factory: Callable[[], UnitOfWork]
    payments: CheckoutPayments
    reservation_ttl: timedelta
    deadline: timedelta
    capture_delay: timedelta
    carts: CartStore
    sold_out: SoldOutFlags | None = None
    crash_after: set[str] = field(default_factory=set)  # test hook: statuses after which to "die"


async def _load(uow: UnitOfWork, checkout_id: str, *, lock: bool = False) -> Checkout:
    query = select(Checkout).where(Checkout.id == checkout_id)
    if lock and uow.is_postgres:
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one()


async def _advance(uow: UnitOfWork, checkout: Checkout, status: str, **detail: Any) -> None:
    checkout.status = status
    uow.session.add(CheckoutStep(checkout_id=checkout.id, status=status, detail=detail))
    await uow.commit()


def _crash_point(deps: SagaDeps, status: str) -> None:
    if status in deps.crash_after:
        raise InjectedCrash(f"injected crash after {status}")


async def run(deps: SagaDeps, checkout_id: str, card: CardInput | None) -> str:
    """Drive a checkout forward until it is finished or needs the reconciler; answers its status."""
    status: str | None = None
    while True:
        if status is None:
            async with deps.uow_factory() as uow:
                status = (await _load(uow, checkout_id)).status
        if status in TERMINAL:
            return status
        if card is None and status in BEFORE_PAYMENT:
            # Resumed without the buyer's card: nothing was charged yet, so undo rather than go on.
            if not await compensate(deps, checkout_id, "checkout_expired", "the checkout did not finish in time"):
                return "compensating"
            status = None
            continue
        step = STEPS.get(status)
        if step is None:  # compensating
            if not await compensate(deps, checkout_id, None, None):
                return "compensating"
            status = None
            continue
        next_status = await step(deps, checkout_id, card)
        if next_status is None:  # waiting on the provider's truth: leave it to the reconciler
            return status
        _crash_point(deps, next_status)
        # A step that moved forward answers the status it just committed: no need to read it back (a round trip
        # per step). Failure paths may have left it `compensating`, so they read it again.
        status = next_status if next_status == "completed" or next_status in STEPS else None


async def _flash_sale_lines(uow: UnitOfWork, checkout: Checkout, sale_id: str) -> list[dict[str, Any]]:
    """The buyer's held units of a flash sale, claimed for this checkout, as lines at the sale price."""
    holds = await flash_holds.claim_for_checkout(
        uow=uow, buyer_id=checkout.user_id, sale_id=sale_id, checkout_id=checkout.id
    )
    held: dict[str, tuple[int, int]] = {}
    ids: dict[str, list[str]] = {}
    for h in holds:
        held[h.offer_id] = (held.get(h.offer_id, (0, h.price_amount))[0] + h.quantity, h.price_amount)
        ids.setdefault(h.offer_id, []).append(h.reservation_id)
    lines = await queries.held_lines(uow=uow, held=held) if held else []
    checkout.currency = holds[0].currency if holds else "USD"
    return [
        {**line.__dict__, "reservation_id": ids[line.offer_id][0], "reservation_ids": ids[line.offer_id]}
        for line in lines
    ]


async def _validate_cart(deps: SagaDeps, checkout_id: str, card: CardInput | None) -> str | None:
    async with deps.uow_factory() as uow:
        checkout = await _load(uow, checkout_id)
        sale_id = await _started_detail(uow, checkout_id, "flash_sale_id")
        if sale_id is not None:
            flash_lines = await _flash_sale_lines(uow, checkout, sale_id)
            if not flash_lines:
                await _fail(uow, checkout, "no_flash_sale_hold", "you hold no units of this flash sale")
                return "failed"
            checkout.lines = flash_lines
            await _advance(uow, checkout, "cart_validated", lines=len(flash_lines), flash_sale_id=sale_id)
            return "cart_validated"
        if checkout.cart_id is not None:  # a guest's checkout names its (anonymous) cart from the start
            cart_id, lines, currency = await queries.guest_cart_lines(uow=uow, cart_id=checkout.cart_id)
        else:
            cart_id, lines, currency = await queries.user_cart_lines(uow=uow, user_id=checkout.user_id)
        if not lines:
            await _fail(uow, checkout, "cart_empty", "your cart is empty")
            return "failed"
        checkout.cart_id = cart_id
        checkout.currency = currency
        checkout.lines = [line.__dict__ for line in lines]
        await _advance(uow, checkout, "cart_validated", lines=len(lines))
    return "cart_validated"


async def _reserve(deps: SagaDeps, checkout_id: str, card: CardInput | None) -> str | None:
    async with deps.uow_factory() as uow:
        checkout = await _load(uow, checkout_id)
        # Lines a flash sale already holds (their reservation ids are set) are not reserved again.
        wanted = [(line["offer_id"], line["quantity"]) for line in checkout.lines if not line.get("reservation_id")]
        reservations = []
        try:
            if wanted:
                await flash_holds.refuse_open_sale_offers(uow=uow, offer_ids=[offer_id for offer_id, _ in wanted])
                reservations = await inventory.reserve_lines(
                    uow=uow,
                    lines=wanted,
                    ttl=deps.reservation_ttl,
                    checkout_id=checkout.id,
                    user_id=checkout.user_id,
                    sold_out=deps.sold_out,
                )
        except (InsufficientStock, AdmissionRequired) as exc:
            await uow.rollback()
            checkout = await _load(uow, checkout_id)
            await _fail(uow, checkout, exc.code, exc.message, **exc.details)
            return "failed"
        by_offer = {r.offer_id: r.id for r in reservations}
        checkout.lines = [
            {**line, "reservation_id": line.get("reservation_id") or by_offer[line["offer_id"]]}
            for line in checkout.lines
        ]
        await _advance(uow, checkout, "inventory_reserved", reservations=len(reservations))
    return "inventory_reserved"


async def _price(deps: SagaDeps, checkout_id: str, card: CardInput | None) -> str | None:
    async with deps.uow_factory() as uow:
        checkout = await _load(uow, checkout_id)
        lines = [_priced(line) for line in checkout.lines]
        try:  # the cart's vouchers: one use each taken now, in this step's transaction, or the checkout fails
            discounts = await _redeem_vouchers(uow, checkout, lines)
        except (VoucherExhausted, VoucherNotActive, VoucherNotApplicable) as exc:
            await uow.rollback()
            await compensate(deps, checkout_id, exc.code, exc.message)
            return "failed"
        quote = price_cart(
            lines=lines,
            country=checkout.shipping_address["country"],
            region=checkout.shipping_address["region"],
            method=checkout.shipping_method,
            per_seller=await _started_detail(uow, checkout_id, "shipping_methods"),
            currency=checkout.currency,
            line_discounts=line_discounts(lines, discounts),
        )
        checkout.subtotal_amount, checkout.shipping_amount = quote.subtotal, quote.shipping
        checkout.tax_amount, checkout.total_amount = quote.tax, quote.total
        taxes, off = quote.line_taxes, quote.line_discounts
        shipping = {s.seller_id: s.chosen.amount if s.chosen else 0 for s in quote.shipments}
        checkout.lines = [
            {**line, "tax": taxes[line["offer_id"]], "discount": off.get(line["offer_id"], 0)}
            for line in checkout.lines
        ]
        await _advance(
            uow,
            checkout,
            "priced",
            total=quote.total,
            shipping_by_seller=shipping,
            discounts=[{"code": d.code, "seller_id": d.seller_id, "amount": d.amount} for d in discounts],
        )
    return "priced"


async def _redeem_vouchers(uow: UnitOfWork, checkout: Checkout, lines: list[PricedLine]) -> list[Discount]:
    """Vouchers apply to cart checkouts only (a flash sale's price is the whole offer)."""
    if checkout.cart_id is None or await _started_detail(uow, checkout.id, "flash_sale_id") is not None:
        return []
    return await promotions.redeem(
        uow=uow,
        cart_id=checkout.cart_id,
        checkout_id=checkout.id,
        buyer_id=checkout.user_id,
        seller_subtotals=seller_subtotals(lines),
        currency=checkout.currency,
    )


async def _authorize(deps: SagaDeps, checkout_id: str, card: CardInput | None) -> str | None:
    async with deps.uow_factory() as uow:
        checkout = await _load(uow, checkout_id)
        amount, currency, key = checkout.total_amount, checkout.currency, f"checkout:{checkout.id}:authorize"
    if card is None:  # resumed by the reconciler: the card was never stored, ask what happened
        outcome = await deps.payments.recover(
            checkout_id=checkout_id, amount=amount, currency=currency, idempotency_key=key
        )
    else:
        details = CardDetails(number=card.card_number, exp_month=card.exp_month, exp_year=card.exp_year, cvc=card.cvc)
        outcome = await deps.payments.authorize(
            checkout_id=checkout_id, amount=amount, currency=currency, card=details, idempotency_key=key
        )
    _crash_point(deps, "provider_called")
    if outcome.status == "unknown":
        return None
    async with deps.uow_factory() as uow:
        # Under the row lock: while this process waited on the provider, the reconciler may have taken the
        # checkout over (past its deadline) and undone it. Then the authorization must not be recorded as a step
        # of a checkout that is over; it is released instead, and the checkout stays as the reconciler left it.
        checkout = await _load(uow, checkout_id, lock=True)
        if checkout.status != "priced":
            await uow.rollback()
            if outcome.status == "authorized":
                await _release_orphan_authorization(deps, checkout_id)
            return ""  # read the status again: the reconciler's (or its compensation to finish)
        if outcome.status == "authorized":
            checkout.payment_id = outcome.payment_id
            await _advance(uow, checkout, "payment_authorized", payment_id=outcome.payment_id)
            return "payment_authorized"
    code = "payment_provider_unavailable" if outcome.status == "unavailable" else outcome.status
    if card is None and outcome.status == "not_found":
        code = "checkout_expired"
    done = await compensate(deps, checkout_id, code, outcome.message or code.replace("_", " "))
    return "failed" if done else None


async def _release_orphan_authorization(deps: SagaDeps, checkout_id: str) -> None:
    """Void an authorization that arrived after its checkout was undone (the provider holds the buyer's money)."""
    try:
        await deps.payments.void(checkout_id=checkout_id)
    except DependencyUnavailable:
        # Nothing retries this void later: say so loudly (the card network drops the hold after some days).
        log.error("could not void the late authorization of checkout %s; void it by hand", checkout_id)


async def _create_order(deps: SagaDeps, checkout_id: str, card: CardInput | None) -> str | None:
    async with deps.uow_factory() as uow:
        checkout = await _load(uow, checkout_id, lock=True)
        if checkout.status != "payment_authorized":
            return checkout.status
        try:
            # All lines in one call, which locks holds and stock rows in id order: committed one line at a time,
            # in cart order, two checkouts sharing two offers could deadlock (found by bench/checkout.py --hot-offer).
            reservation_ids = [rid for line in checkout.lines for rid in _reservation_ids(line)]
            await inventory.commit_reservations(uow=uow, reservation_ids=reservation_ids)
        except Conflict:
            await uow.rollback()
            await compensate(
                deps, checkout_id, "checkout_expired", "the stock hold expired before the order was placed"
            )
            return "failed"
        step = (
            await uow.session.execute(
                select(CheckoutStep.detail).where(
                    CheckoutStep.checkout_id == checkout_id, CheckoutStep.status == "priced"
                )
            )
        ).scalar_one()
        order_id = await place_order(
            uow=uow,
            user_id=checkout.user_id,
            checkout_id=checkout.id,
            currency=checkout.currency,
            lines=[_order_line(line) for line in checkout.lines],
            shipping_by_seller=step["shipping_by_seller"],
            subtotal=checkout.subtotal_amount,
            shipping=checkout.shipping_amount,
            tax=checkout.tax_amount,
            shipping_address=checkout.shipping_address,
            shipping_method=checkout.shipping_method,
            discounts=step.get("discounts") or [],
        )
        await promotions.attach_order(uow=uow, checkout_id=checkout.id, order_id=order_id)
        await _set_payment_order(uow, checkout, order_id, deps.capture_delay)
        checkout.order_id = order_id
        if checkout.cart_id:
            offer_ids = [line["offer_id"] for line in checkout.lines]
            await cart_service.remove_ordered(uow=uow, store=deps.carts, cart_id=checkout.cart_id, offer_ids=offer_ids)
        uow.session.add(CheckoutStep(checkout_id=checkout.id, status="order_created", detail={"order_id": order_id}))
        await _advance(uow, checkout, "completed", order_id=order_id)
    return "completed"


async def _set_payment_order(uow: UnitOfWork, checkout: Checkout, order_id: str, capture_delay: timedelta) -> None:
    assert checkout.payment_id is not None
    await payments.schedule_capture(
        uow=uow, payment_id=checkout.payment_id, order_id=order_id, capture_after=utcnow() + capture_delay
    )


async def compensate(deps: SagaDeps, checkout_id: str, code: str | None, message: str | None) -> bool:
    """Undo in reverse order: void the authorization, release the holds, then record the failure.

    Answers False when the provider could not be reached to void: the checkout stays `compensating`
    and the reconciler tries again after the deadline.
    """
    async with deps.uow_factory() as uow:
        checkout = await _load(uow, checkout_id, lock=True)
        if checkout.status in TERMINAL:
            return True
        if checkout.status != "compensating":
            checkout.failure_code = code or checkout.failure_code or "checkout_expired"
            checkout.failure_message = message or checkout.failure_message
            await _advance(uow, checkout, "compensating", code=checkout.failure_code)
    try:
        await deps.payments.void(checkout_id=checkout_id)
    except DependencyUnavailable:
        log.warning("could not void the authorization of checkout %s yet; the reconciler will retry", checkout_id)
        return False
    async with deps.uow_factory() as uow:
        checkout = await _load(uow, checkout_id, lock=True)
        if checkout.status in TERMINAL:  # another process finished the compensation meanwhile: record it once
            return True
        for line in checkout.lines:
            for reservation_id in _reservation_ids(line):
                await inventory.release_reservation(uow=uow, reservation_id=reservation_id, sold_out=deps.sold_out)
        await promotions.release_checkout(uow=uow, checkout_id=checkout_id)
        await _advance(uow, checkout, "failed", code=checkout.failure_code)
    return True


async def _fail(uow: UnitOfWork, checkout: Checkout, code: str, message: str, **details: Any) -> None:
    checkout.failure_code, checkout.failure_message = code, message
    await _advance(uow, checkout, "failed", code=code, **details)


async def _started_detail(uow: UnitOfWork, checkout_id: str, key: str) -> Any:
    detail = (
        await uow.session.execute(
            select(CheckoutStep.detail).where(CheckoutStep.checkout_id == checkout_id, CheckoutStep.status == "started")
        )
    ).scalar_one_or_none()
    return (detail or {}).get(key)


def _reservation_ids(line: dict[str, Any]) -> list[str]:
    """A line's holds: one, or several when a flash-sale buyer held their units in more than one go."""
    return list(line.get("reservation_ids") or ([line["reservation_id"]] if line.get("reservation_id") else []))


def _priced(line: dict[str, Any]) -> PricedLine:
    return PricedLine(**{k: line[k] for k in PricedLine.__dataclass_fields__})


def _order_line(line: dict[str, Any]) -> NewOrderLine:
    return NewOrderLine(
        offer_id=line["offer_id"],
        sku_id=line["sku_id"],
        product_id=line["product_id"],
        seller_id=line["seller_id"],
        reservation_id=line["reservation_id"],
        title=line["title"],
        quantity=line["quantity"],
        unit_price=line["unit_price"],
        tax=line["tax"],
        discount=line.get("discount", 0),
    )


Step = Callable[[SagaDeps, str, CardInput | None], Awaitable[str | None]]
STEPS: dict[str, Step] = {
    "started": _validate_cart,
    "cart_validated": _reserve,
    "inventory_reserved": _price,
    "priced": _authorize,
    "payment_authorized": _create_order,
}
