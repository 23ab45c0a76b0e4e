"""How a cart reads: each line with today's price and stock next to its price when added, and warnings."""

from __future__ import annotations

from collections.abc import Sequence

from bazaar.cart import queries
from bazaar.cart.schemas import CartItemRead, CartRead, CartWarning, MoneyRead
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.stock import LOW_STOCK_THRESHOLD, availability_label
from bazaar.kernel.ports import StoredCartLine
from bazaar.promotions import service as promotions


def _dollars(amount: int) -> str:
    return f"${amount // 100}.{amount % 100:02d}"


def line_warnings(line: StoredCartLine, view: queries.OfferView | None) -> list[CartWarning]:
    if view is None or not view.active:
        return [CartWarning(item_id=line.item_id, code="offer_unavailable", message="this offer is no longer sold")]
    warnings = []
    if view.price != line.price_at_add_amount:
        change = "went up" if view.price > line.price_at_add_amount else "went down"
        message = f"the price {change} from {_dollars(line.price_at_add_amount)} to {_dollars(view.price)}"
        warnings.append(CartWarning(item_id=line.item_id, code="price_changed", message=message))
    if view.available == 0:
        warnings.append(CartWarning(item_id=line.item_id, code="out_of_stock", message="out of stock"))
    elif view.available < line.quantity:
        message = f"only {view.available} left; you have {line.quantity} in your cart"
        warnings.append(CartWarning(item_id=line.item_id, code="insufficient_stock", message=message))
    elif view.available <= LOW_STOCK_THRESHOLD:
        message = f"only {view.available} left in stock"
        warnings.append(CartWarning(item_id=line.item_id, code="low_stock", message=message))
    return warnings


async def present(
    uow: UnitOfWork,
    cart_id: str | None,
    lines: Sequence[StoredCartLine],
    notes: list[CartWarning],
    views: dict[str, queries.OfferView] | None = None,
    *,
    has_codes: bool = True,
) -> CartRead:
    """The cart as buyers see it; `views`: the lines' offers as the caller read them in this transaction;
    `has_codes=False`: the caller read that the cart has no voucher codes on it."""
    if views is None or any(line.offer_id not in views for line in lines):
        views = await queries.offer_views(uow, [line.offer_id for line in lines])
    items: list[CartItemRead] = []
    warnings = list(notes)
    subtotal = 0
    sellers: dict[str, int] = {}  # what each seller's lines cost: what their voucher is measured against
    for line in lines:
        view = views.get(line.offer_id)
        active = view is not None and view.active
        price = view.price if view is not None else line.price_at_add_amount
        available = view.available if view is not None and active else 0
        if active and view is not None:
            subtotal += price * line.quantity
            sellers[view.seller_id] = sellers.get(view.seller_id, 0) + price * line.quantity
        items.append(
            CartItemRead(
                id=line.item_id,
                offer_id=line.offer_id,
                product_id=view.product_id if view else "",
                seller_id=view.seller_id if view else "",
                title=view.title if view else "",
                quantity=line.quantity,
                unit_price=MoneyRead(amount=price, currency=line.currency),
                price_at_add=MoneyRead(amount=line.price_at_add_amount, currency=line.currency),
                price_changed=price != line.price_at_add_amount,
                availability=availability_label(available),
                available_quantity=available,
                line_total=MoneyRead(amount=price * line.quantity, currency=line.currency),
                image=view.image if view else None,
            )
        )
        warnings.extend(line_warnings(line, view))
    discounts, idle = await promotions.preview(uow=uow, cart_id=cart_id, seller_subtotals=sellers, has_codes=has_codes)
    warnings.extend(CartWarning(item_id=None, code="voucher_not_applicable", message=f"{c}: {why}") for c, why in idle)
    off = sum(d.amount for d in discounts)
    return CartRead(
        id=cart_id,
        items=items,
        subtotal=MoneyRead(amount=subtotal),
        discounts=[d.read() for d in discounts],
        discount=MoneyRead(amount=off),
        total=MoneyRead(amount=subtotal - off),
        warnings=warnings,
    )
