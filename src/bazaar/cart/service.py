"""Cart use cases: read a cart with fresh prices and stock, add, change and remove lines, merge at login.

A cart is found by its user (one server-side cart each) or, for anonymous buyers, by its
unguessable id. Every write locks the cart row and moves its version forward, so concurrent
writes to one cart queue, and the active-cart store never keeps an older copy than the database.
No stock is held at add-to-cart; the hard check is the reservation at checkout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bazaar.cart import queries
from bazaar.cart.errors import CartFull, CartItemNotFound
from bazaar.cart.models import Cart, CartItem
from bazaar.cart.presenter import present
from bazaar.cart.schemas import MAX_CART_LINES, MAX_LINE_QUANTITY, CartRead, CartWarning
from bazaar.db.uow import UnitOfWork
from bazaar.inventory.errors import InsufficientStock, OfferNotFound
from bazaar.kernel.clock import aware, utcnow
from bazaar.kernel.errors import DependencyUnavailable
from bazaar.kernel.ids import new_id, new_secret
from bazaar.kernel.ports import Cache, CartStore, StoredCartLine
from bazaar.promotions import errors as promotion_errors
from bazaar.promotions import service as promotions

NOTICE_SECONDS = 3600


@dataclass(frozen=True)
class CartOwner:
    """Whose cart: a logged-in user's, or the anonymous cart named by `cart_id` (header or cookie)."""

    user_id: str | None = None
    cart_id: str | None = None


def _notice_key(cart_id: str) -> str:
    return f"cart-notices:{cart_id}"


async def _notices(cache: Cache, cart_id: str) -> list[CartWarning]:
    """Notices are a courtesy kept in the cache: with the cache down the cart reads without them."""
    try:
        raw = await cache.get(_notice_key(cart_id))
    except DependencyUnavailable:
        return []
    return [CartWarning(**n) for n in json.loads(raw)] if raw else []


async def _find(uow: UnitOfWork, owner: CartOwner, *, lock: bool) -> Cart | None:
    if owner.user_id is not None:
        query = select(Cart).where(Cart.user_id == owner.user_id)
    elif owner.cart_id:
        query = select(Cart).where(Cart.id == owner.cart_id, Cart.user_id.is_(None), Cart.status == "active")
    else:
        return None
    if lock and uow.is_postgres:
        query = query.with_for_update()
    return (await uow.session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


def _touch(cart: Cart) -> None:
    """Move the version forward even if the clock did not (two writes within a microsecond)."""
    cart.updated_at = max(utcnow(), aware(cart.updated_at) + timedelta(microseconds=1))


async def _open_for_write(uow: UnitOfWork, owner: CartOwner) -> Cart:
    cart = await _find(uow, owner, lock=True)
    if cart is None and owner.user_id is not None:
        # Two devices may create the user's cart at once; the unique user_id keeps one.
        insert = pg_insert if uow.is_postgres else sqlite_insert
        now = utcnow()
        await uow.session.execute(
            insert(Cart)
            .values(id=new_secret(), user_id=owner.user_id, status="active", created_at=now, updated_at=now)
            .on_conflict_do_nothing()
        )
        cart = await _find(uow, owner, lock=True)
    if cart is None:
        cart = Cart(id=new_secret(), user_id=None, status="active", created_at=utcnow(), updated_at=utcnow())
        uow.session.add(cart)
    assert cart is not None
    _touch(cart)
    return cart


async def _save(
    uow: UnitOfWork,
    *,
    store: CartStore,
    cache: Cache,
    cart: Cart,
    items: list[CartItem],
    notes: list[CartWarning] | None = None,
    views: dict[str, queries.OfferView] | None = None,
) -> CartRead:
    """Commit the cart's new version; then the store gets it and notices are replaced (or dropped)."""
    await uow.flush()
    copy = queries.snapshot(cart, items)
    answer = await present(uow, cart.id, copy.lines, notes or [], views)
    key = _notice_key(cart.id)

    async def publish() -> None:
        await store.save(copy)
        if notes:
            await cache.set(key, json.dumps([n.model_dump() for n in notes]).encode(), NOTICE_SECONDS)
        else:
            await cache.delete(key)

    uow.after_commit(publish)
    await uow.commit()
    return answer


async def get_cart(*, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner) -> CartRead:
    """The cart with today's prices and stock; an unknown or merged anonymous cart reads as empty."""
    cart = await _find(uow, owner, lock=False)
    if cart is None:
        return await present(uow, None, (), [])
    lines = await queries.cart_lines(uow, store, cart)
    return await present(uow, cart.id, lines, await _notices(cache, cart.id))


async def add_item(
    *, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, offer_id: str, quantity: int
) -> CartRead:
    """Add units of an offer (to its line if already there), never beyond what is available now."""
    cart = await _open_for_write(uow, owner)
    items = await queries.cart_items(uow, cart.id)
    # The new line's offer and the others' in one read, which the answer reuses (not read again after the write).
    views = await queries.offer_views(uow, [offer_id, *(i.offer_id for i in items)])
    view = views.get(offer_id)
    if view is None or not view.active:
        raise OfferNotFound(offer_id=offer_id)
    line = next((i for i in items if i.offer_id == offer_id), None)
    in_cart = line.quantity if line else 0
    if in_cart + quantity > min(view.available, MAX_LINE_QUANTITY):
        raise InsufficientStock(
            f"only {view.available} of this offer available; your cart already has {in_cart}",
            offer_id=offer_id,
            requested=in_cart + quantity,
            available=view.available,
            in_cart=in_cart,
        )
    if line is None and len(items) >= MAX_CART_LINES:
        raise CartFull(f"a cart holds at most {MAX_CART_LINES} different offers", max_lines=MAX_CART_LINES)
    if line is None:
        line = CartItem(id=new_id(), cart_id=cart.id, offer_id=offer_id, quantity=0, currency=view.currency)
        line.price_at_add_amount = view.price
        uow.session.add(line)
        items.append(line)
    line.quantity = in_cart + quantity
    return await _save(uow, store=store, cache=cache, cart=cart, items=items, views=views)


async def set_item_quantity(
    *, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, item_id: str, quantity: int
) -> CartRead:
    """Change a line's quantity (0 removes it); raising it beyond what is available is refused."""
    cart = await _find(uow, owner, lock=True)
    items = await queries.cart_items(uow, cart.id) if cart else []
    line = next((i for i in items if i.id == item_id), None)
    if cart is None or line is None:
        raise CartItemNotFound(item_id=item_id)
    if quantity > line.quantity:
        view = (await queries.offer_views(uow, [line.offer_id]))[line.offer_id]
        available = view.available if view.active else 0
        if quantity > available:
            raise InsufficientStock(
                f"only {available} of this offer available",
                offer_id=line.offer_id,
                requested=quantity,
                available=available,
                in_cart=line.quantity,
            )
    _touch(cart)
    if quantity == 0:
        await uow.session.delete(line)
        items.remove(line)
    else:
        line.quantity = quantity
    return await _save(uow, store=store, cache=cache, cart=cart, items=items)


async def remove_item(*, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, item_id: str) -> CartRead:
    return await set_item_quantity(uow=uow, store=store, cache=cache, owner=owner, item_id=item_id, quantity=0)


async def _claim_anonymous(uow: UnitOfWork, store: CartStore, cart_id: str) -> list[StoredCartLine] | None:
    """Mark an anonymous cart merged (once, even if two logins race) and take its lines."""
    anon = await _find(uow, CartOwner(cart_id=cart_id), lock=True)
    if anon is None:
        return None
    items = await queries.cart_items(uow, anon.id)
    lines = list(queries.stored_lines(items))
    anon.status = "merged"
    _touch(anon)
    await uow.session.execute(delete(CartItem).where(CartItem.cart_id == anon.id))
    emptied = queries.snapshot(anon, [])

    async def publish() -> None:
        await store.save(emptied)

    uow.after_commit(publish)
    return lines


async def _merge_lines(
    uow: UnitOfWork, cart: Cart, items: list[CartItem], incoming: list[StoredCartLine]
) -> list[CartWarning]:
    """Add quantities offer by offer, capped by what is available now; say where we capped."""
    views = await queries.offer_views(uow, [line.offer_id for line in incoming])
    mine = {i.offer_id: i for i in items}
    notes: list[CartWarning] = []
    for line in incoming:
        view = views.get(line.offer_id)
        available = view.available if view is not None and view.active else 0
        have = mine[line.offer_id].quantity if line.offer_id in mine else 0
        wanted = have + line.quantity
        room = line.offer_id in mine or len(items) < MAX_CART_LINES  # a full cart takes no new offers
        quantity = max(have, min(wanted, available if room else 0, MAX_LINE_QUANTITY))
        if quantity > have and line.offer_id not in mine:
            item = CartItem(id=new_id(), cart_id=cart.id, offer_id=line.offer_id, quantity=quantity)
            item.price_at_add_amount, item.currency = line.price_at_add_amount, line.currency
            uow.session.add(item)
            items.append(item)
            mine[line.offer_id] = item
        elif quantity > have:
            mine[line.offer_id].quantity = quantity
        if quantity < wanted:
            title = view.title if view is not None else "an item"
            item_id = mine[line.offer_id].id if line.offer_id in mine else None
            notes.append(_merge_note(item_id, title, wanted, quantity))
    return notes


def _merge_note(item_id: str | None, title: str, wanted: int, kept: int) -> CartWarning:
    if kept == 0:
        return CartWarning(item_id=None, code="merge_removed", message=f"{title} is no longer available")
    return CartWarning(
        item_id=item_id,
        code="merge_quantity_capped",
        message=f"{title}: your carts held {wanted} together, only {kept} are available",
    )


async def merge_carts(
    *, uow: UnitOfWork, store: CartStore, cache: Cache, user_id: str, anonymous_cart_id: str | None
) -> str | None:
    """At login: fold the anonymous cart into the user's cart; answers the user's cart id (None if they have none)."""
    incoming = await _claim_anonymous(uow, store, anonymous_cart_id) if anonymous_cart_id else None
    if incoming is None:
        existing = await _find(uow, CartOwner(user_id=user_id), lock=False)
        return existing.id if existing else None
    cart = await _open_for_write(uow, CartOwner(user_id=user_id))
    items = await queries.cart_items(uow, cart.id)
    notes = await _merge_lines(uow, cart, items, incoming)
    await _save(uow, store=store, cache=cache, cart=cart, items=items, notes=notes)
    return cart.id


async def remove_ordered(*, uow: UnitOfWork, store: CartStore, cart_id: str, offer_ids: list[str]) -> None:
    """Take what was just ordered out of the cart, inside the caller's transaction (the order's)."""
    query = select(Cart).where(Cart.id == cart_id)
    cart = (await uow.session.execute(query.with_for_update() if uow.is_postgres else query)).scalar_one_or_none()
    if cart is None:
        return
    await uow.session.execute(delete(CartItem).where(CartItem.cart_id == cart_id, CartItem.offer_id.in_(offer_ids)))
    _touch(cart)  # written with the caller's next flush; the items left are read as the DELETE left them
    copy = queries.snapshot(cart, await queries.cart_items(uow, cart_id))

    async def publish() -> None:
        await store.save(copy)

    uow.after_commit(publish)


async def apply_voucher(*, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, code: str) -> CartRead:
    """Apply a seller's voucher code to the cart (checked against what is in it now); answers the cart."""
    cart = await _find(uow, owner, lock=False)
    if cart is None:
        raise promotion_errors.VoucherNotApplicable(
            "add that seller's items to your cart first", voucher_code=code.upper()
        )
    lines = await queries.cart_lines(uow, store, cart)
    views = await queries.offer_views(uow, [line.offer_id for line in lines])
    sellers: dict[str, int] = {}
    for line in lines:
        view = views.get(line.offer_id)
        if view is not None and view.active:
            sellers[view.seller_id] = sellers.get(view.seller_id, 0) + view.price * line.quantity
    await promotions.apply_code(uow=uow, cart_id=cart.id, buyer_id=owner.user_id, code=code, seller_subtotals=sellers)
    return await get_cart(uow=uow, store=store, cache=cache, owner=owner)


async def remove_voucher(
    *, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, code: str | None
) -> CartRead:
    cart = await _find(uow, owner, lock=False)
    if cart is not None:
        await promotions.remove_code(uow=uow, cart_id=cart.id, code=code)
    return await get_cart(uow=uow, store=store, cache=cache, owner=owner)
