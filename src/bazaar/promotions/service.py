"""Voucher use cases: sellers create vouchers; buyers apply codes to their cart; checkout redeems them under their
use limits (a conditional UPDATE, as stock is taken), orders keep them, and a failed checkout or a cancelled order
gives the use back."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Exists, Table, bindparam, delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import aware, utcnow
from bazaar.kernel.schemas import money
from bazaar.promotions.errors import (
    InvalidVoucher,
    VoucherCodeTaken,
    VoucherExhausted,
    VoucherNotActive,
    VoucherNotApplicable,
    VoucherNotFound,
)
from bazaar.promotions.models import CartVoucher, Voucher, VoucherBuyerUse, VoucherRedemption
from bazaar.promotions.schemas import MAX_FIXED, DiscountRead, VoucherCreate, VoucherRead


@dataclass(frozen=True)
class Discount:
    voucher_id: str
    code: str
    seller_id: str
    amount: int

    def read(self, currency: str = "USD") -> DiscountRead:
        return DiscountRead(code=self.code, seller_id=self.seller_id, amount=money(self.amount, currency))

    def as_dict(self) -> dict[str, object]:
        return {"voucher_id": self.voucher_id, "code": self.code, "seller_id": self.seller_id, "amount": self.amount}


@dataclass(frozen=True)
class VoucherTerms:
    """A voucher's terms as a cart's code reads them (a plain row: every cart read and add reads its codes)."""

    id: str
    seller_id: str
    code: str
    kind: str
    value: int
    min_subtotal_amount: int
    max_uses: int | None
    max_uses_per_buyer: int | None
    uses: int
    starts_at: datetime
    ends_at: datetime
    status: str


_VOUCHERS = cast(Table, Voucher.__table__)
_CART_VOUCHERS = cast(Table, CartVoucher.__table__)
_TERMS = [_VOUCHERS.c[f.name] for f in fields(VoucherTerms)]


def voucher_read(v: Voucher) -> VoucherRead:
    return VoucherRead(
        id=v.id,
        seller_id=v.seller_id,
        code=v.code,
        kind="percent" if v.kind == "percent" else "fixed",
        value=v.value,
        min_subtotal=money(v.min_subtotal_amount, v.currency),
        max_uses=v.max_uses,
        max_uses_per_buyer=v.max_uses_per_buyer,
        uses=v.uses,
        starts_at=v.starts_at,
        ends_at=v.ends_at,
        status="active" if v.status == "active" else "disabled",
        created_at=v.created_at,
    )


def discount_for(voucher: Voucher | VoucherTerms, seller_subtotal: int) -> int:
    """What the voucher takes off a seller's lines worth `seller_subtotal` (never more than they cost)."""
    if voucher.kind == "percent":
        return seller_subtotal * voucher.value // 100
    return min(voucher.value, seller_subtotal)


def allocate(amount: int, line_totals: dict[str, int]) -> dict[str, int]:
    """Spread a discount over lines in proportion to their totals, exactly (cumulative floors, in key order), so a
    returned line refunds what was really paid for it."""
    total = sum(line_totals.values())
    if total <= 0 or amount <= 0:
        return dict.fromkeys(line_totals, 0)
    shares: dict[str, int] = {}
    running, given = 0, 0
    for key in sorted(line_totals):
        running += line_totals[key]
        upto = amount * running // total
        shares[key] = upto - given
        given = upto
    return shares


def _usable(voucher: Voucher | VoucherTerms, now: datetime, seller_subtotal: int) -> None:
    if voucher.status != "active" or not aware(voucher.starts_at) <= now < aware(voucher.ends_at):
        raise VoucherNotActive(voucher_code=voucher.code, starts_at=voucher.starts_at.isoformat(),
                               ends_at=voucher.ends_at.isoformat())  # fmt: skip
    if seller_subtotal <= 0:
        raise VoucherNotApplicable("this voucher is for another seller's items", voucher_code=voucher.code)
    if seller_subtotal < voucher.min_subtotal_amount:
        raise VoucherNotApplicable(
            "spend more with this seller to use this voucher",
            voucher_code=voucher.code,
            min_subtotal=voucher.min_subtotal_amount,
            seller_subtotal=seller_subtotal,
        )
    if voucher.max_uses is not None and voucher.uses >= voucher.max_uses:
        raise VoucherExhausted(voucher_code=voucher.code)


async def create_voucher(*, uow: UnitOfWork, seller_id: str, data: VoucherCreate) -> VoucherRead:
    value = data.amount()
    if data.kind == "percent" and not 1 <= value <= 100:
        raise InvalidVoucher("a percent voucher takes 1 to 100 percent off", value=value)
    if data.kind == "fixed" and not 1 <= value <= MAX_FIXED:
        raise InvalidVoucher("a fixed voucher takes between 1 cent and $100,000 off", value=value)
    if aware(data.ends_at) <= aware(data.starts_at):
        raise InvalidVoucher("ends_at must be after starts_at")
    voucher = Voucher(
        seller_id=seller_id,
        code=data.code,
        kind=data.kind,
        value=value,
        min_subtotal_amount=data.min_subtotal.amount if data.min_subtotal else 0,
        max_uses=data.max_uses,
        max_uses_per_buyer=data.max_uses_per_buyer,
        starts_at=aware(data.starts_at),
        ends_at=aware(data.ends_at),
    )
    uow.session.add(voucher)
    try:
        await uow.flush()
    except IntegrityError as exc:
        raise VoucherCodeTaken(voucher_code=data.code) from exc
    result = voucher_read(voucher)
    await uow.commit()
    return result


async def list_vouchers(*, uow: UnitOfWork, seller_id: str) -> list[VoucherRead]:
    rows = await uow.session.execute(
        select(Voucher).where(Voucher.seller_id == seller_id).order_by(Voucher.created_at.desc(), Voucher.id)
    )
    return [voucher_read(v) for v in rows.scalars()]


async def disable_voucher(*, uow: UnitOfWork, seller_id: str, voucher_id: str) -> VoucherRead:
    voucher = await uow.session.get(Voucher, voucher_id)
    if voucher is None or voucher.seller_id != seller_id:
        raise VoucherNotFound(voucher_id=voucher_id)
    voucher.status = "disabled"
    result = voucher_read(voucher)
    await uow.commit()
    return result


async def _by_code(uow: UnitOfWork, code: str) -> Voucher:
    voucher = (await uow.session.execute(select(Voucher).where(Voucher.code == code.upper()))).scalar_one_or_none()
    if voucher is None:
        raise VoucherNotFound(voucher_code=code.upper())
    return voucher


async def apply_code(
    *, uow: UnitOfWork, cart_id: str, buyer_id: str | None, code: str, seller_subtotals: dict[str, int]
) -> None:
    """Apply a code to a cart: it must be live, for a seller in the cart, past its minimum and not used up
    (by everyone, or by this buyer). It replaces that seller's earlier code."""
    voucher = await _by_code(uow, code)
    _usable(voucher, utcnow(), seller_subtotals.get(voucher.seller_id, 0))
    if buyer_id is not None and voucher.max_uses_per_buyer is not None:
        used = await uow.session.get(VoucherBuyerUse, (voucher.id, buyer_id))
        if used is not None and used.uses >= voucher.max_uses_per_buyer:
            raise VoucherExhausted("you have used this voucher as many times as it allows", voucher_code=voucher.code)
    await uow.session.execute(
        delete(CartVoucher).where(CartVoucher.cart_id == cart_id, CartVoucher.seller_id == voucher.seller_id)
    )
    uow.session.add(CartVoucher(cart_id=cart_id, seller_id=voucher.seller_id, voucher_id=voucher.id, code=voucher.code))
    await uow.commit()


async def remove_code(*, uow: UnitOfWork, cart_id: str, code: str | None) -> None:
    """Take a code (or every code) off the cart."""
    query = delete(CartVoucher).where(CartVoucher.cart_id == cart_id)
    if code:
        query = query.where(CartVoucher.code == code.upper())
    await uow.session.execute(query)
    await uow.commit()


_CART_CODES = (
    select(*_TERMS)
    .join_from(_VOUCHERS, _CART_VOUCHERS, _CART_VOUCHERS.c.voucher_id == _VOUCHERS.c.id)
    .where(_CART_VOUCHERS.c.cart_id == bindparam("cart_id"))
    .order_by(_VOUCHERS.c.seller_id)
)  # built once: every cart read and add runs it


def codes_on(cart_id: ColumnElement[str]) -> Exists:
    """Whether the cart `cart_id` names has codes on it, as a column of the cart's own read: a cart without codes
    (most carts) then skips reading them (`preview(..., has_codes=False)`)."""
    return exists().where(_CART_VOUCHERS.c.cart_id == cart_id)


async def _cart_vouchers(uow: UnitOfWork, cart_id: str) -> list[VoucherTerms]:
    return [VoucherTerms(*row) for row in await uow.session.execute(_CART_CODES, {"cart_id": cart_id})]


async def preview(
    *, uow: UnitOfWork, cart_id: str | None, seller_subtotals: dict[str, int], has_codes: bool = True
) -> tuple[list[Discount], list[tuple[str, str]]]:
    """The discounts a cart's codes give today, and (code, reason) for each code that gives nothing now.
    `has_codes=False`: the caller read (`codes_on`) that the cart has none."""
    if cart_id is None or not has_codes:
        return [], []
    now, discounts, idle = utcnow(), [], []
    for voucher in await _cart_vouchers(uow, cart_id):
        subtotal = seller_subtotals.get(voucher.seller_id, 0)
        try:
            _usable(voucher, now, subtotal)
        except (VoucherNotActive, VoucherNotApplicable, VoucherExhausted) as exc:
            idle.append((voucher.code, exc.message))
            continue
        discounts.append(Discount(voucher.id, voucher.code, voucher.seller_id, discount_for(voucher, subtotal)))
    return discounts, idle


async def redeem(
    *, uow: UnitOfWork, cart_id: str, checkout_id: str, buyer_id: str, seller_subtotals: dict[str, int], currency: str
) -> list[Discount]:
    """Take one use of each code on the cart for this checkout, in the caller's transaction, or raise (nothing
    taken): the use count goes up only while below the limit, checked by the database under the row's lock."""
    now, discounts = utcnow(), []
    for voucher in await _cart_vouchers(uow, cart_id):
        subtotal = seller_subtotals.get(voucher.seller_id, 0)
        if subtotal <= 0:
            continue  # that seller's items left the cart: the code stays for later, unused
        _usable(voucher, now, subtotal)
        taken = await uow.session.execute(
            update(Voucher)
            .where(
                Voucher.id == voucher.id,
                Voucher.status == "active",
                (Voucher.max_uses.is_(None)) | (Voucher.uses < Voucher.max_uses),
            )
            .values(uses=Voucher.uses + 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise VoucherExhausted(voucher_code=voucher.code)
        if voucher.max_uses_per_buyer is not None and not await _take_buyer_use(uow, voucher, buyer_id):
            raise VoucherExhausted("you have used this voucher as many times as it allows", voucher_code=voucher.code)
        amount = discount_for(voucher, subtotal)
        uow.session.add(
            VoucherRedemption(
                voucher_id=voucher.id,
                code=voucher.code,
                seller_id=voucher.seller_id,
                buyer_id=buyer_id,
                checkout_id=checkout_id,
                amount=amount,
                currency=currency,
            )
        )
        discounts.append(Discount(voucher.id, voucher.code, voucher.seller_id, amount))
    if discounts:  # the uses are rows the caller's later statements may update (a checkout that fails releases them)
        await uow.flush()
    return discounts


async def _take_buyer_use(uow: UnitOfWork, voucher: VoucherTerms, buyer_id: str) -> bool:
    insert = pg_insert if uow.dialect == "postgresql" else sqlite_insert
    table = VoucherBuyerUse.__table__
    statement = (
        insert(VoucherBuyerUse)
        .values(voucher_id=voucher.id, buyer_id=buyer_id, uses=1)
        .on_conflict_do_update(
            index_elements=[table.c.voucher_id, table.c.buyer_id],
            set_={"uses": table.c.uses + 1},
            where=table.c.uses < voucher.max_uses_per_buyer,
        )
    )
    return bool((await uow.session.execute(statement)).rowcount)  # type: ignore[attr-defined]


async def attach_order(*, uow: UnitOfWork, checkout_id: str, order_id: str) -> None:
    """The checkout's held uses belong to its order now (in the order's transaction)."""
    await uow.session.execute(
        update(VoucherRedemption)
        .where(VoucherRedemption.checkout_id == checkout_id, VoucherRedemption.status == "held")
        .values(status="used", order_id=order_id)
        .execution_options(synchronize_session=False)
    )


async def release_checkout(*, uow: UnitOfWork, checkout_id: str) -> int:
    """A failed checkout gives its held uses back, once (only rows still `held` are released)."""
    return await _release(uow, VoucherRedemption.checkout_id == checkout_id, "held")


async def release_order(*, uow: UnitOfWork, order_id: str) -> int:
    """A cancelled order gives its uses back, once."""
    return await _release(uow, VoucherRedemption.order_id == order_id, "used")


async def _release(uow: UnitOfWork, which: object, status: str) -> int:
    released = await uow.session.execute(
        update(VoucherRedemption)
        .where(which, VoucherRedemption.status == status)  # type: ignore[arg-type]
        .values(status="released")
        .returning(VoucherRedemption.voucher_id, VoucherRedemption.buyer_id)
        .execution_options(synchronize_session=False)
    )
    rows = sorted(released.all())
    for voucher_id, buyer_id in rows:
        await uow.session.execute(
            update(Voucher).where(Voucher.id == voucher_id, Voucher.uses > 0).values(uses=Voucher.uses - 1)
        )
        await uow.session.execute(
            update(VoucherBuyerUse)
            .where(
                VoucherBuyerUse.voucher_id == voucher_id,
                VoucherBuyerUse.buyer_id == buyer_id,
                VoucherBuyerUse.uses > 0,
            )
            .values(uses=VoucherBuyerUse.uses - 1)
        )
    return len(rows)


async def checkout_discounts(*, uow: UnitOfWork, checkout_id: str) -> list[dict[str, object]]:
    """The uses a checkout holds, as an order records them: [{code, seller_id, amount}]."""
    rows = await uow.session.execute(
        select(VoucherRedemption)
        .where(VoucherRedemption.checkout_id == checkout_id, VoucherRedemption.status == "held")
        .order_by(VoucherRedemption.seller_id)
    )
    return [{"code": r.code, "seller_id": r.seller_id, "amount": r.amount} for r in rows.scalars()]
