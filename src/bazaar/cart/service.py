"""Cart use cases: read a cart with fresh prices and stock, add, change and remove lines, merge at login.

A cart is found by its user (one server-side cart each) or, for anonymous buyers, by its
unguessable id. Every write moves the cart's version forward, so the active-cart store never keeps
an older copy than the database: under the cart row's lock, so concurrent writes to one cart queue,
or (an add on PostgreSQL, see `add_item`) by a write that moves it on only from the version its read
saw, done again under the lock when the cart moved in between.
No stock is held at add-to-cart; the hard check is the reservation at checkout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CTE, ColumnElement, and_, bindparam, delete, exists, select, update
from sqlalchemy import insert as insert_row
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bazaar.cart import queries
from bazaar.cart.errors import CartFull, CartItemNotFound
from bazaar.cart.presenter import present
from bazaar.cart.queries import CART_COLUMNS, CARTS, ITEMS, CartRow
from bazaar.cart.schemas import MAX_CART_LINES, MAX_LINE_QUANTITY, CartRead, CartWarning
from bazaar.db.dialects import PerDialect
from bazaar.db.driver import Prepared
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


async def _notices(cache: Cache, cart: CartRow) -> list[CartWarning]:
    """The notices of the cart's current version. They are kept with the version they were made for, so the cart's
    next write (a new version) ends them without a round trip to remove them. A courtesy kept in the cache: with the
    cache down the cart reads without them."""
    try:
        raw = await cache.get(_notice_key(cart.id))
    except DependencyUnavailable:
        return []
    kept = json.loads(raw) if raw else None
    if not isinstance(kept, dict) or kept.get("version") != queries.version_of(cart):
        return []
    return [CartWarning(**n) for n in kept["notices"]]


@dataclass(frozen=True)
class _Statements:
    """How one kind of key finds a cart, built once (a statement built per call costs more CPU than it runs)."""

    find: Prepared
    locked: Prepared
    bump: Prepared
    contents: Prepared  # the cart found, its lines and an offer's, in one statement (an add without the lock)


def _statements(where: ColumnElement[bool]) -> _Statements:
    find = select(*CART_COLUMNS).where(where)
    bump = (
        update(CARTS)
        .where(where, CARTS.c.updated_at < bindparam("since"))
        .values(updated_at=bindparam("now"))
        .returning(*CART_COLUMNS)
    )
    # FOR UPDATE: PostgreSQL only
    return _Statements(
        find=Prepared(find),
        locked=Prepared(find.with_for_update()),
        bump=Prepared(bump),
        contents=queries.contents_found_by(where),
    )


_USERS_CART = _statements(CARTS.c.user_id == bindparam("for_user"))
_ANONYMOUS_CART = _statements(
    and_(CARTS.c.id == bindparam("the_cart"), CARTS.c.user_id.is_(None), CARTS.c.status == "active")
)
_CART_BY_ID = _statements(CARTS.c.id == bindparam("the_cart"))
_SET_VERSION = Prepared(update(CARTS).where(CARTS.c.id == bindparam("the_cart")).values(updated_at=bindparam("now")))
_NOW = bindparam("now", type_=CARTS.c.updated_at.type)
_MAKE_CART = Prepared(
    insert_row(CARTS).values(id=bindparam("id"), user_id=None, status="active", created_at=_NOW, updated_at=_NOW)
)
_MAKE_USERS_CART = PerDialect(
    lambda insert: (
        insert(CARTS)
        .values(id=bindparam("id"), user_id=bindparam("for_user"), status="active", created_at=_NOW, updated_at=_NOW)
        .on_conflict_do_nothing()
        .returning(*CART_COLUMNS)
    )
).prepared()
_ADD_LINE = Prepared(
    insert_row(ITEMS).values(
        id=bindparam("item"),
        cart_id=bindparam("cart"),
        offer_id=bindparam("offer"),
        quantity=bindparam("qty"),
        price_at_add_amount=bindparam("price"),
        currency=bindparam("in_currency"),
        created_at=bindparam("at", type_=ITEMS.c.created_at.type),
        updated_at=bindparam("at", type_=ITEMS.c.updated_at.type),
    )
)
_SET_QUANTITY = Prepared(
    update(ITEMS)
    .where(ITEMS.c.id == bindparam("item_id"))
    .values(quantity=bindparam("new_quantity"), updated_at=bindparam("now"))
)
# PostgreSQL: an add's write in one statement, which also moves the cart's version on, but only from the version
# its read saw (`seen`); a cart moved since (a concurrent write) writes nothing and answers no row. A new cart is made
# by the same statement as its first line (a user's second device making it at the same moment: no row).
_NEW_VERSION = bindparam("now", type_=CARTS.c.updated_at.type)
_UNCHANGED = (
    update(CARTS)
    .where(CARTS.c.id == bindparam("the_cart"), CARTS.c.updated_at == bindparam("seen", type_=CARTS.c.updated_at.type))
    .values(updated_at=_NEW_VERSION)
    .returning(CARTS.c.id)
    .cte("unchanged")
)
_NEW_CART = (
    pg_insert(CARTS)
    .values(
        id=bindparam("the_cart"),
        user_id=bindparam("for_user"),
        status="active",
        created_at=_NEW_VERSION,
        updated_at=_NEW_VERSION,
    )
    .on_conflict_do_nothing()
    .returning(CARTS.c.id)
    .cte("new_cart")
)


def _line_into(cart: CTE) -> Prepared:
    line = select(
        bindparam("item", type_=ITEMS.c.id.type),
        cart.c.id,
        bindparam("offer", type_=ITEMS.c.offer_id.type),
        bindparam("qty", type_=ITEMS.c.quantity.type),
        bindparam("price", type_=ITEMS.c.price_at_add_amount.type),
        bindparam("in_currency", type_=ITEMS.c.currency.type),
        _NEW_VERSION,
        _NEW_VERSION,
    )
    columns = ["id", "cart_id", "offer_id", "quantity", "price_at_add_amount", "currency", "created_at", "updated_at"]
    return Prepared(insert_row(ITEMS).from_select(columns, line).returning(ITEMS.c.id).add_cte(cart))


_ADD_LINE_IF_UNCHANGED = _line_into(_UNCHANGED)
_ADD_LINE_TO_NEW_CART = _line_into(_NEW_CART)
_ITEM = bindparam("item_id", type_=ITEMS.c.id.type)
_UNCHANGED_WITH_LINE = (  # and the line still there: no row, nothing written (not even the version), where not
    update(CARTS)
    .where(
        CARTS.c.id == bindparam("the_cart"),
        CARTS.c.updated_at == bindparam("seen", type_=CARTS.c.updated_at.type),
        exists().where(ITEMS.c.id == _ITEM, ITEMS.c.cart_id == CARTS.c.id),
    )
    .values(updated_at=_NEW_VERSION)
    .returning(CARTS.c.id)
    .cte("unchanged")
)
_SET_QUANTITY_IF_UNCHANGED = Prepared(
    update(ITEMS)
    .where(ITEMS.c.id == _ITEM, ITEMS.c.cart_id == _UNCHANGED_WITH_LINE.c.id)
    .values(quantity=bindparam("new_quantity"), updated_at=_NEW_VERSION)
    .returning(ITEMS.c.id)
    .add_cte(_UNCHANGED_WITH_LINE)
)
adds_relocked = 0  # adds that found their cart moved between their read and their write (exported at /metrics)
_Key = tuple[_Statements, dict[str, str]]


def _key(owner: CartOwner) -> _Key | None:
    if owner.user_id is not None:
        return _USERS_CART, {"for_user": owner.user_id}
    if owner.cart_id:
        return _ANONYMOUS_CART, {"the_cart": owner.cart_id}
    return None


async def _find(uow: UnitOfWork, owner: CartOwner) -> CartRow | None:
    key = _key(owner)
    if key is None:
        return None
    row = (await uow.fetch(key[0].find, key[1])).first()
    return CartRow(*row) if row is not None else None


def _touch(updated_at: datetime) -> datetime:
    """The next version: now, or a microsecond on if the clock did not move (two writes within a microsecond)."""
    return max(utcnow(), aware(updated_at) + timedelta(microseconds=1))


async def _lock(uow: UnitOfWork, key: _Key | None) -> CartRow | None:
    """Lock the cart for this transaction's write and move its version forward, so concurrent writes to one
    cart queue and the active-cart store never keeps an older copy than the database.

    Usually one statement: the UPDATE that moves the version on to now also takes the row lock (and waits for
    a concurrent writer). If the version is already at or past now (a write within the clock's tick, or a
    clock behind another node's), the row is locked and read, and moved a microsecond on."""
    if key is None:
        return None
    return await _bump(uow, key) or await _lock_read(uow, key)


async def _bump(uow: UnitOfWork, key: _Key) -> CartRow | None:
    """The cart locked and moved on to now by one UPDATE; None if there is none, or its version is not behind now."""
    statements, params = key
    now = utcnow()
    bumped = (await uow.fetch(statements.bump, {**params, "since": now, "now": now})).first()
    return CartRow(*bumped) if bumped is not None else None


async def _lock_read(uow: UnitOfWork, key: _Key) -> CartRow | None:
    """The cart locked, read, and moved a microsecond past its version; None if there is none."""
    statements, params = key
    row = (await uow.fetch(statements.locked, params)).first()
    if row is None:
        return None
    cart = CartRow(*row)
    cart.updated_at = _touch(cart.updated_at)
    await uow.fetch(_SET_VERSION, {"the_cart": cart.id, "now": cart.updated_at})
    return cart


async def _open_for_write(uow: UnitOfWork, owner: CartOwner) -> CartRow:
    """The owner's cart, locked and at its next version; made first if the user (or anonymous buyer) has none."""
    if owner.user_id is not None:
        key = _key(owner)
        assert key is not None
        cart = await _bump(uow, key)
        if cart is not None:
            return cart
        # Nothing bumped: usually a buyer's first add, whose cart is made here without a read for it first.
        # Two devices may make the user's cart at once; the unique user_id keeps one, the other's insert waits
        # for it and does nothing, and that one is then locked and read (so is a cart whose version was not
        # behind now).
        now = utcnow()
        made = (await uow.fetch(_MAKE_USERS_CART, {"id": new_secret(), "for_user": owner.user_id, "now": now})).first()
        if made is not None:
            return CartRow(*made)
        cart = await _lock_read(uow, key)
        assert cart is not None
        return cart
    cart = await _lock(uow, _key(owner))
    if cart is not None:
        return cart
    now = utcnow()
    cart = CartRow(id=new_secret(), user_id=None, status="active", updated_at=now)
    await uow.fetch(_MAKE_CART, {"id": cart.id, "now": now})
    return cart


async def _add_line(uow: UnitOfWork, cart_id: str, line: StoredCartLine) -> None:
    now = utcnow()
    await uow.fetch(
        _ADD_LINE,
        {
            "item": line.item_id,
            "cart": cart_id,
            "offer": line.offer_id,
            "qty": line.quantity,
            "price": line.price_at_add_amount,
            "in_currency": line.currency,
            "at": now,
        },
    )


async def _set_line_quantity(uow: UnitOfWork, item_id: str, quantity: int) -> None:
    await uow.fetch(_SET_QUANTITY, {"item_id": item_id, "new_quantity": quantity, "now": utcnow()})


async def _save(
    uow: UnitOfWork,
    *,
    store: CartStore,
    cache: Cache,
    cart: CartRow,
    lines: list[StoredCartLine],
    notes: list[CartWarning] | None = None,
    views: dict[str, queries.OfferView] | None = None,
    has_codes: bool = True,
) -> CartRead:
    """Commit the cart's new version (its rows written already); then the store gets it, and its notices (if any)
    are kept for that version."""
    copy = queries.snapshot(cart, lines)
    answer = await present(uow, cart.id, copy.lines, notes or [], views, has_codes=has_codes)
    key = _notice_key(cart.id)

    async def publish() -> None:
        await store.save(copy)
        if notes:  # (without notes, the new version alone ends the earlier ones: see _notices)
            kept = {"version": copy.version, "notices": [n.model_dump() for n in notes]}
            await cache.set(key, json.dumps(kept).encode(), NOTICE_SECONDS)

    uow.after_commit(publish)
    await uow.commit()
    return answer


async def get_cart(*, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner) -> CartRead:
    """The cart with today's prices and stock; an unknown or merged anonymous cart reads as empty."""
    cart = await _find(uow, owner)
    if cart is None:
        return await present(uow, None, (), [])
    lines = await queries.cart_lines(uow, store, cart)
    return await present(uow, cart.id, lines, await _notices(cache, cart))


def _with_added(
    found: queries.CartContents, offer_id: str, quantity: int
) -> tuple[list[StoredCartLine], StoredCartLine, bool]:
    """The cart's lines with `quantity` more of the offer (its line if there, else a new one), never beyond what is
    available now: the new lines, the line written, and whether it is new."""
    view = found.views.get(offer_id)
    if view is None or not view.active:
        raise OfferNotFound(offer_id=offer_id)
    lines = list(found.lines)
    at = next((n for n, line in enumerate(lines) if line.offer_id == offer_id), None)
    in_cart = lines[at].quantity if at is not None else 0
    if in_cart + quantity > min(view.available, MAX_LINE_QUANTITY):
        raise InsufficientStock(
            f"only {view.available} of this offer available; your cart already has {in_cart}",
            offer_id=offer_id,
            requested=in_cart + quantity,
            available=view.available,
            in_cart=in_cart,
        )
    if at is None:
        if len(lines) >= MAX_CART_LINES:
            raise CartFull(f"a cart holds at most {MAX_CART_LINES} different offers", max_lines=MAX_CART_LINES)
        line = StoredCartLine(new_id(), offer_id, quantity, view.price, view.currency)
        lines.append(line)
        return lines, line, True
    line = lines[at] = replace(lines[at], quantity=in_cart + quantity)
    return lines, line, False


async def add_item(
    *, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, offer_id: str, quantity: int
) -> CartRead:
    """Add units of an offer (to its line if already there), never beyond what is available now.

    On PostgreSQL first without the cart's lock (`_add_unlocked`: two statements, no transaction); if the cart moved
    between its read and its write, and on SQLite, under the lock: the cart locked and moved on, its lines and offers
    read, the line written, in one transaction. What the add decides (`_with_added`) is the same either way."""
    if uow.is_postgres:
        added = await _add_unlocked(uow, store=store, cache=cache, owner=owner, offer_id=offer_id, quantity=quantity)
        if added is not None:
            return added
    cart = await _open_for_write(uow, owner)
    # The lines, their offers and the new line's, in one read, which the answer reuses (not read again after the
    # write); and whether the cart has codes whose discounts the answer must show.
    found = await queries.contents(uow, cart.id, offer_id)
    lines, line, new = _with_added(found, offer_id, quantity)
    if new:
        await _add_line(uow, cart.id, line)
    else:
        await _set_line_quantity(uow, line.item_id, line.quantity)
    return await _save(
        uow, store=store, cache=cache, cart=cart, lines=lines, views=found.views, has_codes=found.has_codes
    )


async def _add_unlocked(
    uow: UnitOfWork, *, store: CartStore, cache: Cache, owner: CartOwner, offer_id: str, quantity: int
) -> CartRead | None:
    """The add in two statements, each on its own (no BEGIN, no COMMIT, no lock held between them): one reads the cart
    (its version), its lines and the offers; the other writes the line and moves the version on, only if it is still
    the version read, so two adds that read the same cart cannot both write. None, nothing written, where the cart
    moved in between (a concurrent write to the same cart) or a new cart was made meanwhile: the caller then adds
    under the lock. Three round trips fewer than the locked add, which a buyer's cart, written by one device at a
    time, almost never needs.

    Nothing after the write may fail the request, which would answer an error for an add that is saved (and a retry
    would add again): the answer is made from what the read gave, without a read of its own, so a cart with voucher
    codes (whose discounts the answer reads) is added under the lock; what the store and the notices get is sent
    after the write and only logged if it fails (`UnitOfWork.after_commit`)."""
    global adds_relocked
    statements, params = _key(owner) or (_ANONYMOUS_CART, {"the_cart": ""})  # no cart id: no cart is found
    read = await queries.found_contents(uow, statements.contents, {**params, "offer": offer_id})
    if read is None or read[1].has_codes:
        return None
    cart, found = read
    lines, line, new = _with_added(found, offer_id, quantity)
    values: dict[str, Any] = {"offer": offer_id, "qty": line.quantity, "item": line.item_id, "item_id": line.item_id}
    values |= {"new_quantity": line.quantity, "price": line.price_at_add_amount, "in_currency": line.currency}
    if cart is None:
        cart = CartRow(id=new_secret(), user_id=owner.user_id, status="active", updated_at=utcnow())
        values |= {"the_cart": cart.id, "for_user": owner.user_id, "now": cart.updated_at}
        statement = _ADD_LINE_TO_NEW_CART
    else:
        seen, cart.updated_at = cart.updated_at, _touch(cart.updated_at)
        values |= {"the_cart": cart.id, "seen": seen, "now": cart.updated_at}
        statement = _ADD_LINE_IF_UNCHANGED if new else _SET_QUANTITY_IF_UNCHANGED
    written = await uow.fetch_alone(statement, values)
    if written is None or written.first() is None:
        adds_relocked += 1
        return None
    return await _save(
        uow, store=store, cache=cache, cart=cart, lines=lines, views=found.views, has_codes=found.has_codes
    )


async def set_item_quantity(
    *, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, item_id: str, quantity: int
) -> CartRead:
    """Change a line's quantity (0 removes it); raising it beyond what is available is refused."""
    cart = await _lock(uow, _key(owner))
    lines = await queries.cart_items(uow, cart.id) if cart else []
    at = next((n for n, line in enumerate(lines) if line.item_id == item_id), None)
    if cart is None or at is None:
        raise CartItemNotFound(item_id=item_id)
    line = lines[at]
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
    if quantity == 0:
        await uow.session.execute(delete(ITEMS).where(ITEMS.c.id == item_id))
        del lines[at]
    else:
        await _set_line_quantity(uow, item_id, quantity)
        lines[at] = replace(line, quantity=quantity)
    return await _save(uow, store=store, cache=cache, cart=cart, lines=lines)


async def remove_item(*, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, item_id: str) -> CartRead:
    return await set_item_quantity(uow=uow, store=store, cache=cache, owner=owner, item_id=item_id, quantity=0)


async def _claim_anonymous(uow: UnitOfWork, store: CartStore, cart_id: str) -> list[StoredCartLine] | None:
    """Mark an anonymous cart merged (once, even if two logins race) and take its lines."""
    anon = await _lock(uow, _key(CartOwner(cart_id=cart_id)))
    if anon is None:
        return None
    lines = await queries.cart_items(uow, anon.id)
    anon.status = "merged"
    # The version too: a statement that leaves out `updated_at` gets the column's on-update default (now), which
    # would move the version the lock just set, perhaps backwards.
    merged = update(CARTS).where(CARTS.c.id == anon.id).values(status="merged", updated_at=anon.updated_at)
    await uow.session.execute(merged)
    await uow.session.execute(delete(ITEMS).where(ITEMS.c.cart_id == anon.id))
    emptied = queries.snapshot(anon, [])

    async def publish() -> None:
        await store.save(emptied)

    uow.after_commit(publish)
    return lines


async def _merge_lines(
    uow: UnitOfWork, cart_id: str, lines: list[StoredCartLine], incoming: list[StoredCartLine]
) -> list[CartWarning]:
    """Add quantities offer by offer, capped by what is available now; say where we capped."""
    views = await queries.offer_views(uow, [line.offer_id for line in incoming])
    mine = {line.offer_id: n for n, line in enumerate(lines)}
    notes: list[CartWarning] = []
    for line in incoming:
        view = views.get(line.offer_id)
        available = view.available if view is not None and view.active else 0
        at = mine.get(line.offer_id)
        have = lines[at].quantity if at is not None else 0
        wanted = have + line.quantity
        room = at is not None or len(lines) < MAX_CART_LINES  # a full cart takes no new offers
        quantity = max(have, min(wanted, available if room else 0, MAX_LINE_QUANTITY))
        if quantity > have and at is None:
            added = StoredCartLine(new_id(), line.offer_id, quantity, line.price_at_add_amount, line.currency)
            await _add_line(uow, cart_id, added)
            at = mine[line.offer_id] = len(lines)
            lines.append(added)
        elif quantity > have and at is not None:
            await _set_line_quantity(uow, lines[at].item_id, quantity)
            lines[at] = replace(lines[at], quantity=quantity)
        if quantity < wanted:
            title = view.title if view is not None else "an item"
            item_id = lines[at].item_id if at is not None else None
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
        existing = await _find(uow, CartOwner(user_id=user_id))
        return existing.id if existing else None
    cart = await _open_for_write(uow, CartOwner(user_id=user_id))
    lines = await queries.cart_items(uow, cart.id)
    notes = await _merge_lines(uow, cart.id, lines, incoming)
    await _save(uow, store=store, cache=cache, cart=cart, lines=lines, notes=notes)
    return cart.id


async def remove_ordered(*, uow: UnitOfWork, store: CartStore, cart_id: str, offer_ids: list[str]) -> None:
    """Take what was just ordered out of the cart, inside the caller's transaction (the order's)."""
    cart = await _lock(uow, (_CART_BY_ID, {"the_cart": cart_id}))
    if cart is None:
        return
    copy = queries.snapshot(cart, await queries.remove_ordered_lines(uow, cart_id, offer_ids))

    async def publish() -> None:
        await store.save(copy)

    uow.after_commit(publish)


async def apply_voucher(*, uow: UnitOfWork, store: CartStore, cache: Cache, owner: CartOwner, code: str) -> CartRead:
    """Apply a seller's voucher code to the cart (checked against what is in it now); answers the cart."""
    cart = await _find(uow, owner)
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
    cart = await _find(uow, owner)
    if cart is not None:
        await promotions.remove_code(uow=uow, cart_id=cart.id, code=code)
    return await get_cart(uow=uow, store=store, cache=cache, owner=owner)
