"""Checkout use cases: quote a cart, start (or replay) a checkout, read one, and reconcile stuck ones."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from bazaar.addresses import service as addresses
from bazaar.checkout import queries, saga
from bazaar.checkout.discounts import line_discounts
from bazaar.checkout.errors import (
    FAILURES,
    CartEmpty,
    CheckoutNotFound,
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
)
from bazaar.checkout.models import Checkout, CheckoutStep
from bazaar.checkout.pricing import price_cart, seller_subtotals
from bazaar.checkout.schemas import (
    AddressChoice,
    CheckoutRead,
    CheckoutRequest,
    FailureRead,
    QuoteLineRead,
    QuoteRead,
    QuoteRequest,
    SellerShipmentRead,
    ShippingOptionRead,
    StepRead,
)
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DomainError, ValidationFailed
from bazaar.kernel.schemas import money
from bazaar.kernel.waiting import waiting_elsewhere
from bazaar.promotions import service as promotions
from bazaar.shipping.addresses import ShippingAddress

REPLAY_WAIT_SECONDS = 5.0

MAX_IDEMPOTENCY_KEY = 255


async def _cart_lines(uow: UnitOfWork, user_id: str | None, guest_cart_id: str | None) -> queries.CartToPrice:
    if guest_cart_id is not None:
        return await queries.guest_cart_lines(uow=uow, cart_id=guest_cart_id)
    assert user_id is not None
    return await queries.user_cart_lines(uow=uow, user_id=user_id)


async def _shipping_address(uow: UnitOfWork, user_id: str | None, request: AddressChoice) -> ShippingAddress:
    if request.shipping_address is not None:
        return request.shipping_address
    if user_id is None or request.shipping_address_id is None:
        raise ValidationFailed("a guest gives the shipping address itself", code="shipping_address_required")
    return await addresses.shipping_address(uow=uow, user_id=user_id, address_id=request.shipping_address_id)


async def quote_checkout(
    *, uow: UnitOfWork, user_id: str | None, request: QuoteRequest, guest_cart_id: str | None = None
) -> QuoteRead:
    """Price the cart (the user's, or a guest's by cart id) for an address; nothing is held or charged."""
    cart = await _cart_lines(uow, user_id, guest_cart_id)
    lines, currency = cart.lines, cart.currency
    if not lines:
        raise CartEmpty()
    address = await _shipping_address(uow, user_id, request)
    discounts, _ = await promotions.preview(
        uow=uow, cart_id=cart.cart_id, seller_subtotals=seller_subtotals(lines), has_codes=cart.has_codes
    )
    quote = price_cart(
        lines=lines,
        country=address.country,
        region=address.region,
        method=request.shipping_method,
        currency=currency,
        per_seller=dict(request.shipping_methods or {}),
        line_discounts=line_discounts(lines, discounts),
    )
    m = lambda amount: money(amount, currency)  # noqa: E731
    return QuoteRead(
        lines=[
            QuoteLineRead(
                offer_id=li.offer_id,
                product_id=li.product_id,
                seller_id=li.seller_id,
                title=li.title,
                quantity=li.quantity,
                unit_price=m(li.unit_price),
                line_total=m(li.unit_price * li.quantity),
                tax=m(quote.line_taxes[li.offer_id]),
                discount=m(quote.line_discounts.get(li.offer_id, 0)),
            )
            for li in lines
        ],
        shipping_method=quote.method,
        shipments=[
            SellerShipmentRead(
                seller_id=s.seller_id,
                shipping_method=s.chosen.method if s.chosen else None,
                carrier=s.chosen.carrier if s.chosen else None,
                price=m(s.chosen.amount) if s.chosen else None,
                estimated_days=s.chosen.estimated_days if s.chosen else None,
                options=[
                    ShippingOptionRead(
                        method=o.method, carrier=o.carrier, price=m(o.amount), estimated_days=o.estimated_days
                    )
                    for o in s.options
                ],
            )
            for s in quote.shipments
        ],
        subtotal=m(quote.subtotal),
        discounts=[d.read(currency) for d in discounts],
        discount=m(quote.discount),
        shipping=m(quote.shipping),
        tax=m(quote.tax),
        total=m(quote.total),
        shipping_options=[
            ShippingOptionRead(method=o.method, carrier=o.carrier, price=m(o.price), estimated_days=o.estimated_days)
            for o in quote.options
        ],
    )


async def start_checkout(
    *,
    deps: saga.SagaDeps,
    user_id: str,
    idempotency_key: str | None,
    request: CheckoutRequest,
    guest_cart_id: str | None = None,
) -> CheckoutRead:
    """Place the order for the user's cart; the same key and body always answer the same result.

    A guest checkout passes the guest's buyer id (accounts.guest_buyer) and `guest_cart_id`, the anonymous
    cart to order: the saga then reads that cart instead of the buyer's own; everything else is the same.
    """
    key = (idempotency_key or "").strip()
    if not key:
        raise IdempotencyKeyRequired()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise IdempotencyKeyInvalid(
            f"the Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters", max_length=MAX_IDEMPOTENCY_KEY
        )
    fingerprint = request.fingerprint()
    if request.flash_sale_id is not None and guest_cart_id is not None:
        raise ValidationFailed("log in to buy in a flash sale", code="flash_sale_needs_account")

    async def begin(uow: UnitOfWork) -> saga.Progress | None:
        """Insert the checkout and take it to `priced` in one transaction; None: the key was used already."""
        address = await _shipping_address(uow, None if guest_cart_id else user_id, request)
        checkout = await saga.insert_checkout(
            uow,
            user_id=user_id,
            idempotency_key=key,
            request_hash=fingerprint,
            cart_id=guest_cart_id,  # set only for a guest: the saga orders this cart (see saga.prepare)
            shipping_address=address.model_dump(mode="json"),
            shipping_method=request.shipping_method,
            deadline_at=utcnow() + deps.deadline,
        )
        if checkout is None:  # this user already used the key: a replay (the unique index decides)
            await uow.rollback()
            return None
        progress = saga.Progress(checkout)
        # The step log keeps the request's per-seller shipping choices and its flash sale. Added after the
        # checkout's insert, the step goes in the commit's one batch with the other steps.
        started: dict[str, Any] = (
            {"shipping_methods": dict(request.shipping_methods)} if request.shipping_methods else {}
        )
        if request.flash_sale_id is not None:
            started["flash_sale_id"] = request.flash_sale_id  # the saga orders the buyer's sale holds
        saga.new_step(uow, checkout, "started", progress, **started)
        per_seller = dict(request.shipping_methods or {}) or None
        await saga.prepare(deps, uow, progress, request.payment, per_seller, request.flash_sale_id)
        return progress

    async with deps.uow_factory() as uow:
        # The whole way to `priced` commits with the checkout's insert (see saga.prepare); a deadlock runs it again.
        progress = await uow.run(lambda: begin(uow))
    if progress is None:
        return await _replay(deps, user_id=user_id, key=key, fingerprint=fingerprint)
    status = await saga.run(deps, progress.checkout.id, request.payment, progress)
    if status == "completed" and progress.checkout.status == "completed":  # this request completed it
        return progress.read()
    return await _answer(deps, progress.checkout.id)


async def _replay(deps: saga.SagaDeps, *, user_id: str, key: str, fingerprint: str) -> CheckoutRead:
    loop = asyncio.get_running_loop()
    waited_until = loop.time() + REPLAY_WAIT_SECONDS
    while True:
        async with deps.uow_factory() as uow:
            existing = (
                await uow.session.execute(
                    select(Checkout).where(Checkout.user_id == user_id, Checkout.idempotency_key == key)
                )
            ).scalar_one()
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused(checkout_id=existing.id)
        if existing.status in saga.TERMINAL:
            return await _answer(deps, existing.id)
        if loop.time() >= waited_until:
            raise IdempotencyKeyInUse(checkout_id=existing.id)
        # Waiting on the request that runs it (which may be waiting for this process's checkout slot again, after
        # the provider answered it): the slot is not this request's to hold meanwhile.
        async with waiting_elsewhere():
            await asyncio.sleep(0.05)


async def _answer(deps: saga.SagaDeps, checkout_id: str) -> CheckoutRead:
    """The checkout as the API answers it; a failed one raises the error its request answered."""
    async with deps.uow_factory() as uow:
        read = await get_checkout_read(uow=uow, checkout_id=checkout_id, user_id=None)
    if read.status == "failed" and read.failure is not None:
        error_class = FAILURES.get(read.failure.code, DomainError)
        failed_step = next((s for s in reversed(read.steps) if s.status == "failed"), None)
        details = {k: v for k, v in (failed_step.detail if failed_step else {}).items() if k != "code"}
        raise error_class(read.failure.message, code=read.failure.code, checkout_id=checkout_id, **details)
    return read


async def get_checkout_read(*, uow: UnitOfWork, checkout_id: str, user_id: str | None) -> CheckoutRead:
    checkout = await uow.session.get(Checkout, checkout_id)
    if checkout is None or (user_id is not None and checkout.user_id != user_id):
        raise CheckoutNotFound()
    steps = (
        await uow.session.execute(
            select(CheckoutStep)
            .where(CheckoutStep.checkout_id == checkout_id)
            .order_by(CheckoutStep.at, CheckoutStep.id)
        )
    ).scalars()
    return CheckoutRead(
        id=checkout.id,
        status=checkout.status,
        order_id=checkout.order_id,
        failure=FailureRead(code=checkout.failure_code, message=checkout.failure_message or checkout.failure_code)
        if checkout.failure_code and checkout.status == "failed"
        else None,
        steps=[StepRead(status=s.status, at=s.at, detail=s.detail) for s in steps],
        total=money(checkout.total_amount, checkout.currency) if checkout.total_amount else None,
    )


async def reconcile_once(*, deps: saga.SagaDeps, now: datetime | None = None, limit: int = 20) -> int:
    """Finish or compensate checkouts stuck past their deadline; answers how many were taken."""
    now = now or utcnow()
    async with deps.uow_factory() as uow:
        stuck = list(
            (
                await uow.session.execute(
                    select(Checkout.id)
                    .where(
                        Checkout.status.not_in(saga.TERMINAL),
                        Checkout.deadline_at < now,
                        or_(Checkout.locked_until.is_(None), Checkout.locked_until < now),
                    )
                    .order_by(Checkout.deadline_at)
                    .limit(limit)
                )
            ).scalars()
        )
    taken = 0
    for checkout_id in stuck:
        if not await _claim(deps, checkout_id, now):
            continue  # another reconciler has it
        taken += 1
        await saga.run(deps, checkout_id, None)
    return taken


async def _claim(deps: saga.SagaDeps, checkout_id: str, now: datetime) -> bool:
    async with deps.uow_factory() as uow:
        result = await uow.session.execute(
            update(Checkout)
            .where(
                Checkout.id == checkout_id,
                Checkout.status.not_in(saga.TERMINAL),
                or_(Checkout.locked_until.is_(None), Checkout.locked_until < now),
            )
            .values(locked_until=now + deps.deadline, attempts=Checkout.attempts + 1)
        )
        await uow.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]
