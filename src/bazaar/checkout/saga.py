"""The checkout saga: each step is persisted with the work it records, so any process can resume or undo it.

started -> cart_validated -> inventory_reserved -> priced -> payment_authorized -> completed, in two
transactions on the way to an order:
  1. `prepare` (with the checkout's insert): the cart read, the stock held, the cart priced and the payment's
     authorize call recorded, with the four steps, in one commit; then the provider is called, with no
     transaction open;
  2. the provider's answer recorded with the step `payment_authorized`, and with it the order created, the holds
     committed, the capture scheduled and the cart emptied (`completed`). Should a hold be gone by then, the
     answer is recorded alone and the checkout undone from `payment_authorized`.
On failure, compensation in reverse order (void the authorization, release the reservations) -> failed.
A checkout resumed by the reconciler in `priced` asks the provider what became of its authorization; one left
in `payment_authorized` (by the case above, or an earlier version) goes on to its order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bazaar.cart import service as cart_service
from bazaar.checkout import queries
from bazaar.checkout.discounts import line_discounts
from bazaar.checkout.models import Checkout, CheckoutStep
from bazaar.checkout.ports import AuthOutcome, CheckoutPayments, PendingAuthorization
from bazaar.checkout.pricing import PricedLine, Quote, price_cart, seller_subtotals
from bazaar.checkout.schemas import CardInput, CheckoutRead, StepRead
from bazaar.db.dialects import PerDialect
from bazaar.db.driver import Prepared, python_default
from bazaar.db.uow import UnitOfWork, is_transient_conflict
from bazaar.flash_sales import holds as flash_holds
from bazaar.flash_sales.errors import AdmissionRequired
from bazaar.inventory import service as inventory
from bazaar.inventory.errors import HoldLimitExceeded, InsufficientStock
from bazaar.inventory.limits import HoldLimits
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import Conflict, DatabaseBusy, DependencyUnavailable
from bazaar.kernel.ids import new_id
from bazaar.kernel.money import MAX_AMOUNT, AmountTooLarge
from bazaar.kernel.payments import CardDetails, ProviderResult
from bazaar.kernel.ports import CartStore, SoldOutFlags
from bazaar.kernel.schemas import money
from bazaar.orders.service import NewOrderLine, place_order
from bazaar.payments import service as payments
from bazaar.promotions import service as promotions
from bazaar.promotions.errors import VoucherExhausted, VoucherNotActive, VoucherNotApplicable
from bazaar.promotions.service import Discount

log = logging.getLogger("bazaar.checkout")
TERMINAL = frozenset({"completed", "failed"})
BEFORE_PAYMENT = frozenset({"started", "cart_validated", "inventory_reserved"})


_TAKEN_ON = "taken on"  # _record_authorization: the reconciler went on with this authorization meanwhile


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
    hold_limits: HoldLimits | None = None
    hold_ttl: Callable[[list[str]], timedelta] | None = None  # adaptive: how long holds of these offers last
    crash_after: set[str] = field(default_factory=set)  # test hook: statuses after which to "die"


async def _load(uow: UnitOfWork, checkout_id: str, *, lock: bool = False) -> Checkout:
    query = select(Checkout).where(Checkout.id == checkout_id)
    if lock and uow.is_postgres:
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one()


_CHECKOUTS = cast(Table, Checkout.__table__)
_LOCK_STATUS = Prepared(
    select(_CHECKOUTS.c.status).where(_CHECKOUTS.c.id == bindparam("the_checkout")).with_for_update()
)


async def _locked(uow: UnitOfWork, checkout_id: str, progress: Progress | None) -> Checkout:
    """The checkout, its row locked. The request driving it holds it as it last committed it: then only the
    status is read, under the lock, and while nobody moved it that copy joins this unit of work instead of the
    whole row being read again (lines, address). A retried attempt (its copy expired by the rollback) reads it, as
    does the answer recorded alone after the attempts ran out (its copy expired, then detached with its unit of
    work)."""
    state = inspect(progress.checkout) if progress is not None else None
    if progress is not None and state is not None and state.detached and not state.unloaded:
        known = progress.checkout
        status = (await uow.fetch(_LOCK_STATUS, {"the_checkout": checkout_id})).scalar_one()
        if status == known.status:
            uow.session.add(known)
            return known
    return await _load(uow, checkout_id, lock=True)


_NEW_CHECKOUT = PerDialect(
    lambda insert: (
        insert(_CHECKOUTS)
        .on_conflict_do_nothing(index_elements=[_CHECKOUTS.c.user_id, _CHECKOUTS.c.idempotency_key])
        .returning(_CHECKOUTS.c.id)
    )
).prepared(columns=[c.key for c in _CHECKOUTS.c])


async def insert_checkout(uow: UnitOfWork, **values: Any) -> Checkout | None:
    """A new checkout (status `started`) inserted in the caller's transaction, as the session's object, unless this
    user used the key already: then None, and nothing written (a concurrent request inserting the same key first is
    waited for, as the unique index has it). One statement on the driver, not the session's flush of a new object
    with an IntegrityError to roll back for a replay."""
    now = utcnow()
    row = {"id": new_id(), "status": "started", "created_at": now, "updated_at": now, **values}
    for column in _CHECKOUTS.c:  # the others as the model's defaults have them (every column is given)
        if column.key not in row:
            row[column.key] = None if column.default is None else python_default(column.default)
    if (await uow.fetch(_NEW_CHECKOUT, row)).first() is None:
        return None
    checkout = Checkout(**row)
    make_transient_to_detached(checkout)  # the row the statement wrote, every column of it known
    uow.session.add(checkout)  # the session's, as a checkout it read; what changes is written by `_set`
    return checkout


@dataclass
class Progress:
    """What the request driving a checkout knows of it, so it never reads back what it just wrote."""

    checkout: Checkout  # as last committed (detached)
    steps: list[Step] = field(default_factory=list)
    pending: PendingAuthorization | None = None
    shipping_by_seller: dict[str, int] | None = None
    vouchers: bool | None = None  # whether the checkout took voucher uses (None: not known, ask)

    def read(self) -> CheckoutRead:
        """The answer to the request, as `service.get_checkout_read` would read it back."""
        c = self.checkout
        return CheckoutRead(
            id=c.id,
            status=c.status,
            order_id=c.order_id,
            failure=None,
            steps=[StepRead(status=s.status, at=s.at, detail=s.detail) for s in self.steps],
            total=money(c.total_amount, c.currency) if c.total_amount else None,
        )


@dataclass(frozen=True)
class Step:
    """A step as recorded in the step log."""

    status: str
    at: datetime
    detail: dict[str, Any]


_STEPS = cast(Table, CheckoutStep.__table__)


def _record(uow: UnitOfWork, checkout_id: str, step: Step) -> None:
    """A step's row, written with the commit (nothing reads the log back in the transaction that writes it)."""
    row = {"id": new_id(), "checkout_id": checkout_id, "status": step.status, "detail": step.detail, "at": step.at}
    uow.insert(_STEPS, row)


def log_step(uow: UnitOfWork, checkout_id: str, status: str, **detail: Any) -> None:
    """Log what happened to a finished checkout's order (its payment captured) in the caller's transaction; the
    checkout's own status stays as it is."""
    _record(uow, checkout_id, Step(status, utcnow(), detail))


def _set(uow: UnitOfWork, checkout: Checkout, **values: Any) -> None:
    """Change the checkout in the caller's transaction: written with the commit, in its one statement with the steps
    and the rest (`UnitOfWork.update`), where the session's flush of the changed object was a round trip and a
    unit-of-work pass of its own per commit. The object takes the values as the row will have them, so the session
    has nothing to flush; one the session is to insert (a failure recorded alone) takes them for its insert."""
    if inspect(checkout).pending:
        for key, value in values.items():
            setattr(checkout, key, value)
        return
    row = {"id": checkout.id, **values}
    uow.update(_CHECKOUTS, row)
    for key, value in row.items():
        set_committed_value(checkout, key, value)


def new_step(uow: UnitOfWork, checkout: Checkout, status: str, progress: Progress | None = None, **detail: Any) -> None:
    """Record a step in the caller's transaction (committed with the work it records)."""
    _set(uow, checkout, status=status)
    step = Step(status, utcnow(), detail)
    _record(uow, checkout.id, step)
    if progress is not None:
        progress.steps.append(step)


async def _advance(
    uow: UnitOfWork, checkout: Checkout, status: str, progress: Progress | None = None, **detail: Any
) -> None:
    new_step(uow, checkout, status, progress, **detail)
    await uow.commit()


def _crash_point(deps: SagaDeps, status: str) -> None:
    if status in deps.crash_after:
        raise InjectedCrash(f"injected crash after {status}")


async def prepare(
    deps: SagaDeps,
    uow: UnitOfWork,
    progress: Progress,
    card: CardInput,
    shipping_methods: Mapping[str, str] | None,
    flash_sale_id: str | None = None,
) -> str:
    """In the transaction that inserted the checkout (status `started`): read the cart (or claim the buyer's
    flash-sale holds), hold the stock, price it and record the authorize call, each with its step, and commit.
    Answers `priced`, or `failed` (recorded)."""
    # Nothing read here needs this transaction's new rows flushed first, so all of them go in the commit's one
    # statement: the checkout's change with the steps, holds and events, not a round trip each.
    with uow.session.no_autoflush:
        return await _prepare(deps, uow, progress, card, shipping_methods, flash_sale_id)


async def _prepare(
    deps: SagaDeps,
    uow: UnitOfWork,
    progress: Progress,
    card: CardInput,
    shipping_methods: Mapping[str, str] | None,
    flash_sale_id: str | None,
) -> str:
    checkout = progress.checkout
    quote: Quote | None = None
    if flash_sale_id is not None:
        lines = await _flash_sale_lines(uow, checkout, flash_sale_id)
        if not lines:
            await _fail(uow, checkout, "no_flash_sale_hold", "you hold no units of this flash sale", progress)
            return "failed"
        new_step(uow, checkout, "cart_validated", progress, lines=len(lines), flash_sale_id=flash_sale_id)
        progress.vouchers = False  # a flash sale's checkout takes no codes
    else:
        if checkout.cart_id is not None:  # a guest's checkout names its (anonymous) cart from the start
            cart = await queries.guest_cart_lines(uow=uow, cart_id=checkout.cart_id)
        else:
            cart = await queries.user_cart_lines(uow=uow, user_id=checkout.user_id)
        cart_lines = cart.lines
        if not cart_lines:
            await _fail(uow, checkout, "cart_empty", "your cart is empty", progress)
            return "failed"
        _set(uow, checkout, cart_id=cart.cart_id, currency=cart.currency)
        lines = [line.__dict__ for line in cart_lines]
        try:  # the cart's vouchers: one use each, taken in this transaction under their limits, or no checkout
            discounts = await _redeem_vouchers(uow, checkout, cart_lines) if cart.has_codes else []
        except (VoucherExhausted, VoucherNotActive, VoucherNotApplicable) as exc:
            await _roll_back(uow, progress)
            await _fail_alone(deps, progress, exc.code, exc.message, **exc.details)
            return "failed"
        progress.vouchers = bool(discounts)
        off = line_discounts(cart_lines, discounts)
        quote = _quote(checkout, lines, shipping_methods, off)
        if quote.total > MAX_AMOUNT:  # refused before any stock is held: no provider would take it in one payment
            err = AmountTooLarge(f"the order total ({quote.total} minor units) is over the maximum of {MAX_AMOUNT}")
            await promotions.release_checkout(uow=uow, checkout_id=checkout.id)
            await _fail(uow, checkout, err.code, err.message, progress, total=quote.total, max_amount=MAX_AMOUNT)
            return "failed"
        new_step(uow, checkout, "cart_validated", progress, lines=len(lines))
    # Lines a flash sale already holds (their reservation ids are set) are not reserved again.
    wanted = [(line["offer_id"], line["quantity"]) for line in lines if not line.get("reservation_id")]
    reservations = []
    try:
        if wanted:
            await flash_holds.refuse_open_sale_offers(uow=uow, offer_ids=[offer_id for offer_id, _ in wanted])
            reservations = await inventory.reserve_lines(
                uow=uow,
                lines=wanted,
                ttl=deps.hold_ttl([o for o, _ in wanted]) if deps.hold_ttl else deps.reservation_ttl,
                checkout_id=checkout.id,
                user_id=checkout.user_id,
                sold_out=deps.sold_out,
                limits=deps.hold_limits,
            )
    except (InsufficientStock, AdmissionRequired, HoldLimitExceeded) as exc:
        await _roll_back(uow, progress)  # what was written with the checkout goes; it is recorded failed alone
        await _fail_alone(deps, progress, exc.code, exc.message, **exc.details)
        return "failed"
    new_step(uow, checkout, "inventory_reserved", progress, reservations=len(reservations))
    by_offer = {r.offer_id: r.id for r in reservations}
    if quote is None:
        quote = _quote(checkout, lines, shipping_methods)
    taxes = quote.line_taxes
    _set(
        uow,
        checkout,
        lines=[
            {
                **line,
                "reservation_id": line.get("reservation_id") or by_offer[line["offer_id"]],
                "tax": taxes[line["offer_id"]],
                "discount": quote.line_discounts.get(line["offer_id"], 0),
            }
            for line in lines
        ],
        subtotal_amount=quote.subtotal,
        shipping_amount=quote.shipping,
        tax_amount=quote.tax,
        total_amount=quote.total,
    )
    progress.shipping_by_seller = {s.seller_id: s.chosen.amount if s.chosen else 0 for s in quote.shipments}
    new_step(uow, checkout, "priced", progress, total=quote.total, shipping_by_seller=progress.shipping_by_seller)
    progress.pending = deps.payments.open_authorization(
        uow,
        checkout_id=checkout.id,
        amount=quote.total,
        currency=checkout.currency,
        card_last4=_card(card).last4,
        idempotency_key=_authorization_key(checkout.id),
    )
    await uow.commit()
    for status in ("started", "cart_validated", "inventory_reserved", "priced"):  # all persisted by that commit
        _crash_point(deps, status)
    return "priced"


async def _roll_back(uow: UnitOfWork, progress: Progress) -> None:
    """Roll back the transaction that inserted the checkout, keeping what the request knows of it: the session would
    expire its object (inserted by a statement, it counts as a row the session read), so it leaves the session first.
    """
    uow.session.expunge(progress.checkout)
    await uow.rollback()


async def _fail_alone(deps: SagaDeps, progress: Progress, code: str, message: str, **details: Any) -> None:
    """The transaction that inserted the checkout was rolled back: record the checkout, failed, on its own."""
    old = progress.checkout
    checkout = Checkout(**{a.key: getattr(old, a.key) for a in Checkout.__mapper__.column_attrs})
    checkout.lines, checkout.cart_id = [], old.cart_id
    progress.checkout = checkout
    async with deps.uow_factory() as uow:
        uow.session.add(checkout)
        for step in progress.steps:
            _record(uow, checkout.id, step)
        await _fail(uow, checkout, code, message, progress, **details)


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
    _set(uow, checkout, currency=holds[0].currency if holds else "USD")
    return [
        {**line.__dict__, "reservation_id": ids[line.offer_id][0], "reservation_ids": ids[line.offer_id]}
        for line in lines
    ]


def _quote(
    checkout: Checkout,
    lines: list[dict[str, Any]],
    per_seller: Mapping[str, str] | None,
    line_discounts: dict[str, int] | None = None,
) -> Quote:
    return price_cart(
        lines=[PricedLine(**{k: line[k] for k in PricedLine.__dataclass_fields__}) for line in lines],
        country=checkout.shipping_address["country"],
        region=checkout.shipping_address["region"],
        method=checkout.shipping_method,
        per_seller=dict(per_seller) if per_seller else None,
        currency=checkout.currency,
        line_discounts=line_discounts,
    )


async def _redeem_vouchers(uow: UnitOfWork, checkout: Checkout, lines: list[PricedLine]) -> list[Discount]:
    """The promotions hook: a cart checkout takes one use of each voucher on its cart (see promotions.redeem)."""
    if checkout.cart_id is None:
        return []
    return await promotions.redeem(
        uow=uow,
        cart_id=checkout.cart_id,
        checkout_id=checkout.id,
        buyer_id=checkout.user_id,
        seller_subtotals=seller_subtotals(lines),
        currency=checkout.currency,
    )


async def run(deps: SagaDeps, checkout_id: str, card: CardInput | None, progress: Progress | None = None) -> str:
    """Drive a checkout forward until it is finished or needs the reconciler; answers its status."""
    status: str | None = progress.checkout.status if progress is not None else None
    while True:
        if status is None:
            async with deps.uow_factory() as uow:
                status = (await _load(uow, checkout_id)).status
        if status in TERMINAL:
            return status
        if status in BEFORE_PAYMENT:
            # Left before pricing (by an earlier version, which committed each step alone): nothing was charged
            # yet and the card is not stored, so undo rather than go on.
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
        next_status = await step(deps, checkout_id, card, progress)
        if next_status is None:  # waiting on the provider's truth: leave it to the reconciler
            return status
        _crash_point(deps, next_status)
        # A step that moved forward answers the status it just committed: no need to read it back (a round trip
        # per step). Failure paths may have left it `compensating`, so they read it again.
        status = next_status if next_status == "completed" or next_status in STEPS else None


def _card(card: CardInput) -> CardDetails:
    return CardDetails(number=card.card_number, exp_month=card.exp_month, exp_year=card.exp_year, cvc=card.cvc)


def _authorization_key(checkout_id: str) -> str:
    return f"checkout:{checkout_id}:authorize"


async def _authorize(deps: SagaDeps, checkout_id: str, card: CardInput | None, progress: Progress | None) -> str | None:
    pending = progress.pending if progress is not None else None
    outcome: AuthOutcome | None
    answer: ProviderResult | None
    if card is None or pending is None:  # resumed by the reconciler: the card was never stored, ask what happened
        async with deps.uow_factory() as uow:
            checkout = await _load(uow, checkout_id)
            amount, currency = checkout.total_amount, checkout.currency
        outcome = await deps.payments.recover(
            checkout_id=checkout_id, amount=amount, currency=currency, idempotency_key=_authorization_key(checkout_id)
        )
        _crash_point(deps, "provider_called")
        answer = None
    else:
        sent = await deps.payments.send_authorization(pending, card=_card(card))
        _crash_point(deps, "provider_called")
        outcome, answer = (sent, None) if isinstance(sent, AuthOutcome) else (None, sent)
        # (a missing answer is recorded already, by the payments context)
    if outcome is not None and outcome.status == "unknown":
        return None
    mark = len(progress.steps) if progress is not None else 0
    try:
        async with deps.uow_factory() as uow:
            known, recorded = await uow.run(
                lambda: _record_authorization(deps, uow, checkout_id, progress, mark, outcome, answer, pending)
            )
    except DatabaseBusy:
        # The answer and the order were given up on together: the answer is kept, alone (its own transaction
        # locks no stock), and the reconciler places the order from `payment_authorized`.
        async with deps.uow_factory() as uow:
            await uow.run(
                lambda: _record_authorization(deps, uow, checkout_id, progress, mark, outcome, answer, pending, True)
            )
        raise
    if recorded is not None:
        if recorded == "" and known.status == "authorized":
            await _release_orphan_authorization(deps, checkout_id)
        return "" if recorded == _TAKEN_ON else recorded  # "": the caller reads where the checkout is now
    outcome = known
    code = "payment_provider_unavailable" if outcome.status == "unavailable" else outcome.status
    if card is None and outcome.status == "not_found":
        code = "checkout_expired"
    done = await compensate(deps, checkout_id, code, outcome.message or code.replace("_", " "))
    return "failed" if done else None


async def _record_authorization(
    deps: SagaDeps,
    uow: UnitOfWork,
    checkout_id: str,
    progress: Progress | None,
    mark: int,
    outcome: AuthOutcome | None,
    answer: ProviderResult | None,
    pending: PendingAuthorization | None,
    alone: bool = False,
) -> tuple[AuthOutcome, str | None]:
    """The provider's answer recorded with the step it decides, and an authorization with the order it pays for,
    in one transaction. Answers the outcome and the status recorded: `completed` (`payment_authorized` when the
    order could not be placed, or `alone`); "" when the checkout was taken over and undone meanwhile (the
    authorization is an orphan), _TAKEN_ON when the reconciler went on with this authorization (read the
    checkout again, in both cases); None for a refusal (recorded; the caller compensates)."""
    if progress is not None:
        del progress.steps[mark:]  # a retried attempt records its steps again
    # Under the row lock: while this process waited on the provider, the reconciler may have taken the
    # checkout over (past its deadline) and undone it. Then the authorization must not be recorded as a step
    # of a checkout that is over; it is released instead, and the checkout stays as the reconciler left it.
    checkout = await _locked(uow, checkout_id, progress)
    if answer is not None:
        assert pending is not None
        outcome = await deps.payments.record_authorization(uow, pending, answer)
    assert outcome is not None
    if checkout.status != "priced":
        await uow.commit()  # the provider's answer is the truth whatever became of the checkout
        # Taken over meanwhile. Undone ("" : the authorization is an orphan, the caller voids it), or gone on
        # (the reconciler asked the provider, found this same authorization and placed the order it pays for).
        return outcome, "" if checkout.status in ("compensating", "failed") else _TAKEN_ON
    if outcome.status == "authorized":
        _set(uow, checkout, payment_id=outcome.payment_id)
        new_step(uow, checkout, "payment_authorized", progress, payment_id=outcome.payment_id)
        if alone:
            await uow.commit()
            if progress is not None:
                progress.checkout = checkout
            return outcome, "payment_authorized"
        # The order goes in the same commit as the answer: one transaction, not two, from the provider's answer to
        # the order. Should the holds be gone, all of it is rolled back and the answer recorded alone; the step
        # `payment_authorized` then finds the holds gone again and compensates, as for a checkout resumed there.
        try:
            with uow.session.no_autoflush:
                placed = await _place(deps, uow, checkout, progress)
        except Exception as exc:
            if isinstance(exc, DBAPIError) and is_transient_conflict(exc):
                raise  # `UnitOfWork.run` runs all of it again
            # Whatever went wrong with the order, the provider's answer is recorded (a later step or the
            # reconciler goes on from `payment_authorized`), then the error goes on up.
            await uow.rollback()
            await _record_authorization(deps, uow, checkout_id, progress, mark, outcome, answer, pending, True)
            raise
        if placed is None:
            return await _record_authorization(deps, uow, checkout_id, progress, mark, outcome, answer, pending, True)
        return outcome, placed
    await uow.commit()
    return outcome, None


async def _release_orphan_authorization(deps: SagaDeps, checkout_id: str) -> None:
    """Void an authorization that arrived after its checkout was undone (the provider holds the buyer's money)."""
    try:
        await deps.payments.void(checkout_id=checkout_id)
    except DependencyUnavailable:
        # Nothing retries this void later: say so loudly (the card network drops the hold after some days).
        log.error("could not void the late authorization of checkout %s; void it by hand", checkout_id)


async def _create_order(
    deps: SagaDeps, checkout_id: str, card: CardInput | None, progress: Progress | None
) -> str | None:
    mark = len(progress.steps) if progress is not None else 0
    async with deps.uow_factory() as uow:
        return await uow.run(lambda: _create_order_in(deps, uow, checkout_id, progress, mark))


async def _create_order_in(
    deps: SagaDeps, uow: UnitOfWork, checkout_id: str, progress: Progress | None, mark: int
) -> str:
    if progress is not None:
        del progress.steps[mark:]  # a retried attempt records its steps again
    checkout = await _load(uow, checkout_id, lock=True)
    if checkout.status != "payment_authorized":
        return checkout.status
    # As in `prepare`: nothing read below needs the rows added here flushed first, so they go in the commit's one
    # statement.
    with uow.session.no_autoflush:
        placed = await _place(deps, uow, checkout, progress)
    if placed is None:
        await compensate(deps, checkout_id, "checkout_expired", "the stock hold expired before the order was placed")
        return "failed"
    return placed


async def _place(deps: SagaDeps, uow: UnitOfWork, checkout: Checkout, progress: Progress | None) -> str | None:
    """The order placed, the holds sold, the capture scheduled and the cart emptied, committed with the step
    `completed`. None, rolled back, when a hold expired or was released meanwhile."""
    checkout_id = checkout.id
    try:
        # All lines in one call, which locks holds and stock rows in id order: committed one line at a time,
        # in cart order, two checkouts sharing two offers could deadlock (found by bench/checkout.py --hot-offer).
        reservation_ids = [rid for line in checkout.lines for rid in _reservation_ids(line)]
        await inventory.commit_reservations(uow=uow, reservation_ids=reservation_ids)
    except Conflict:
        await uow.rollback()
        return None
    shipping_by_seller = progress.shipping_by_seller if progress is not None else None
    # The request that took the codes knows whether it took any; the reconciler asks (two statements).
    vouchers = progress is None or progress.vouchers is not False
    if shipping_by_seller is None:  # resumed by the reconciler: the pricing step recorded it
        step = (
            await uow.session.execute(
                select(CheckoutStep.detail).where(
                    CheckoutStep.checkout_id == checkout_id, CheckoutStep.status == "priced"
                )
            )
        ).scalar_one()
        shipping_by_seller = step["shipping_by_seller"]
    order_id = await place_order(
        uow=uow,
        user_id=checkout.user_id,
        checkout_id=checkout.id,
        currency=checkout.currency,
        lines=[_order_line(line) for line in checkout.lines],
        shipping_by_seller=shipping_by_seller,
        subtotal=checkout.subtotal_amount,
        shipping=checkout.shipping_amount,
        tax=checkout.tax_amount,
        shipping_address=checkout.shipping_address,
        shipping_method=checkout.shipping_method,
        discounts=await promotions.checkout_discounts(uow=uow, checkout_id=checkout.id) if vouchers else [],
    )
    if vouchers:
        await promotions.attach_order(uow=uow, checkout_id=checkout.id, order_id=order_id)
    await _set_payment_order(uow, checkout, order_id, deps.capture_delay)
    _set(uow, checkout, order_id=order_id)
    if checkout.cart_id:
        offer_ids = [line["offer_id"] for line in checkout.lines]
        await cart_service.remove_ordered(uow=uow, store=deps.carts, cart_id=checkout.cart_id, offer_ids=offer_ids)
    new_step(uow, checkout, "order_created", progress, order_id=order_id)
    await _advance(uow, checkout, "completed", progress, order_id=order_id)
    if progress is not None:
        progress.checkout = checkout
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
            _set(
                uow,
                checkout,
                failure_code=code or checkout.failure_code or "checkout_expired",
                failure_message=message or checkout.failure_message,
            )
            await _advance(uow, checkout, "compensating", code=checkout.failure_code)
    try:
        await deps.payments.void(checkout_id=checkout_id)
    except DependencyUnavailable:
        log.warning("could not void the authorization of checkout %s yet; the reconciler will retry", checkout_id)
        return False
    async with deps.uow_factory() as uow:
        await uow.run(lambda: _release_holds(deps, uow, checkout_id))
    return True


async def _release_holds(deps: SagaDeps, uow: UnitOfWork, checkout_id: str) -> None:
    checkout = await _load(uow, checkout_id, lock=True)
    if checkout.status in TERMINAL:  # another process finished the compensation meanwhile: record it once
        return
    # All holds in one call, so their stock rows are locked in order (one line at a time, in cart
    # order, two failing checkouts sharing offers could deadlock each other and any reservation).
    held = [reservation_id for line in checkout.lines for reservation_id in _reservation_ids(line)]
    await inventory.release_reservations(uow=uow, reservation_ids=held, sold_out=deps.sold_out)
    await promotions.release_checkout(uow=uow, checkout_id=checkout_id)
    await _advance(uow, checkout, "failed", code=checkout.failure_code)


async def _fail(
    uow: UnitOfWork, checkout: Checkout, code: str, message: str, progress: Progress | None = None, **details: Any
) -> None:
    _set(uow, checkout, failure_code=code, failure_message=message)
    await _advance(uow, checkout, "failed", progress, code=code, **details)


def _reservation_ids(line: dict[str, Any]) -> list[str]:
    """A line's holds: one, or several when a flash-sale buyer held their units in more than one go."""
    return list(line.get("reservation_ids") or ([line["reservation_id"]] if line.get("reservation_id") else []))


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


StepRunner = Callable[[SagaDeps, str, CardInput | None, Progress | None], Awaitable[str | None]]
STEPS: dict[str, StepRunner] = {
    "priced": _authorize,
    "payment_authorized": _create_order,
}
