"""Ledger use cases: post the entries of a capture, a refund or a dispute; release an order's funds after the
hold; set commission rates; read balances and entries.

Money rules (docs/MONEY.md): a capture credits each seller the gross of its lines (price x quantity + its
shipping) as `sale`, debits the commission, credits the marketplace's commission account with the same and
the tax account with the rest of the capture. A refund reverses its share of each (the commission on a
refunded amount is given back). Entries are immutable; a balance is a sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bazaar.catalog import queries as catalog
from bazaar.db.dialects import PerDialect
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import aware, utcnow
from bazaar.kernel.ids import new_id
from bazaar.kernel.schemas import money
from bazaar.ledger.allocation import commission, split
from bazaar.ledger.errors import InvalidCommission
from bazaar.ledger.models import DEFAULT_DESTINATION, CommissionRate, LedgerEntry, SellerAccount
from bazaar.ledger.schemas import BalanceRead, CommissionRead
from bazaar.orders import queries as orders
from bazaar.orders.queries import OrderMoney

DEFAULT_BPS = 1000
TAX = "_tax"


@dataclass(frozen=True)
class Posting:
    account: str
    seller_id: str | None
    kind: str
    amount: int
    source: str
    order_id: str | None = None
    refund_ref: str | None = None
    dispute_id: str | None = None
    payout_id: str | None = None


async def post(uow: UnitOfWork, postings: list[Posting], *, currency: str, available_at: datetime | None) -> int:
    """Write the postings not written before (by source) and keep each seller's cached balance in step; in the
    caller's transaction. Answers how many were written."""
    postings = [p for p in postings if p.amount != 0]
    if not postings:
        return 0
    seen = set((await uow.fetch(_SOURCES_WRITTEN, {"sources": [p.source for p in postings]})).scalars())
    fresh = [p for p in postings if p.source not in seen]
    now = utcnow()
    # Written now, not with the commit: a release later in the same transaction (a consumer's batch) reads them.
    await uow.insert_now(
        _ENTRIES,
        [
            {
                "id": new_id(),
                "account": p.account,
                "seller_id": p.seller_id,
                "kind": p.kind,
                "amount": p.amount,
                "currency": currency,
                "order_id": p.order_id,
                "refund_ref": p.refund_ref,
                "dispute_id": p.dispute_id,
                "payout_id": p.payout_id,
                "source": p.source,
                "created_at": now,
                "available_at": available_at,
            }
            for p in fresh
        ],
    )
    deltas: dict[str, int] = {}
    for p in fresh:
        if p.account == "seller" and p.seller_id is not None:
            deltas[p.seller_id] = deltas.get(p.seller_id, 0) + p.amount
    for seller_id in sorted(deltas):  # a fixed order: two transactions never wait on each other's rows crosswise
        credited = await uow.fetch(
            _CREDIT,
            {
                "seller_id": seller_id,
                "balance": deltas[seller_id],
                "currency": currency,
                "payout_destination": DEFAULT_DESTINATION,
                "updated_at": now,
            },
        )
        uow.synced(SellerAccount, credited.one())  # an account the session holds (a payout's) reads the new balance
    return len(fresh)


def _credit(insert: Any) -> Any:
    """A seller's balance moved by `balance`, its account opened with it if it had none."""
    statement = insert(_ACCOUNTS)
    moved = statement.on_conflict_do_update(
        index_elements=[_ACCOUNTS.c.seller_id],
        set_={"balance": _ACCOUNTS.c.balance + statement.excluded.balance, "updated_at": statement.excluded.updated_at},
    )
    return moved.returning(_ACCOUNTS.c.seller_id, _ACCOUNTS.c.balance, _ACCOUNTS.c.updated_at)


# Built once: every capture posts its entries and credits its sellers.
_ENTRIES = cast(Table, LedgerEntry.__table__)
_ACCOUNTS = cast(Table, SellerAccount.__table__)
_RATES = cast(Table, CommissionRate.__table__)
_SOURCES_WRITTEN = Prepared.listing(
    lambda one_of: select(_ENTRIES.c.source).where(one_of(_ENTRIES.c.source, "sources"))
)
_CREDIT = PerDialect(_credit).prepared(columns=("seller_id", "balance", "currency", "payout_destination", "updated_at"))
_ALL_RATES = Prepared(select(_RATES.c.scope, _RATES.c.bps))


async def ensure_account(uow: UnitOfWork, seller_id: str, currency: str = "USD") -> None:
    insert = pg_insert if uow.is_postgres else sqlite_insert
    await uow.session.execute(
        insert(SellerAccount)
        .values(
            seller_id=seller_id,
            balance=0,
            currency=currency,
            payout_destination=DEFAULT_DESTINATION,
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["seller_id"])
    )


def release_time(order: OrderMoney, hold: timedelta, now: datetime) -> datetime | None:
    """When an order's money becomes available: `hold` after delivery; at once for a cancelled order (its
    entries net out); not yet (None) otherwise."""
    if order.status == "cancelled":
        return now
    if order.delivered_at is None:
        return None
    return aware(order.delivered_at) + hold


async def _rates(uow: UnitOfWork) -> dict[str, int]:
    return {r.scope: r.bps for r in await uow.fetch(_ALL_RATES)}


async def record_capture(
    *, uow: UnitOfWork, order_id: str, payment_ref: str, captured: int, currency: str, hold: timedelta
) -> int:
    """A captured payment: per seller `sale` (+gross) and `commission` (−cut, at the rate now in force for each
    product's category or its nearest ancestor with a rate, else the default); the cut to the commission
    account; the rest of the capture (tax) to the tax account."""
    order = await orders.order_money(uow=uow, order_id=order_id)
    rates = await _rates(uow)
    default = rates.get("default", DEFAULT_BPS)
    products = [p for share in order.sellers.values() for p in share.by_product]
    chains = await catalog.category_chains(uow=uow, product_ids=products)
    postings: list[Posting] = []
    for seller_id, share in order.sellers.items():
        cut = 0
        for product_id, gross in share.by_product.items():
            bps = next((rates[c] for c in chains.get(product_id, []) if c in rates), default)
            cut += commission(gross, bps)
        src = f"capture:{payment_ref}:{seller_id}"
        postings += [
            Posting("seller", seller_id, "sale", share.gross, f"{src}:sale", order_id),
            Posting("seller", seller_id, "commission", -cut, f"{src}:commission", order_id),
            Posting("commission", seller_id, "commission", cut, f"{src}:revenue", order_id),
        ]
    tax = captured - sum(s.gross for s in order.sellers.values())
    postings.append(Posting("tax", None, "tax", tax, f"capture:{payment_ref}:tax", order_id))
    return await post(uow, postings, currency=currency, available_at=release_time(order, hold, utcnow()))


async def _commission_charged(uow: UnitOfWork, order_id: str) -> dict[str, int]:
    rows = await uow.session.execute(
        select(LedgerEntry.seller_id, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.order_id == order_id, LedgerEntry.account == "commission")
        .group_by(LedgerEntry.seller_id)
    )
    return {str(s): int(total or 0) for s, total in rows}


async def record_refund(
    *, uow: UnitOfWork, order_id: str, refund_ref: str, amount: int, currency: str, hold: timedelta,
    only_seller: str | None = None,
) -> int:  # fmt: skip
    """A refund to the buyer, shared between the sellers concerned (one seller for a return, else all) in
    proportion to their gross, and the tax account for the tax part; each seller gets back the commission on
    what it refunds."""
    order = await orders.order_money(uow=uow, order_id=order_id)
    sellers = {s: m for s, m in order.sellers.items() if only_seller is None or s == only_seller} or order.sellers
    line_tax = sum(m.tax for m in sellers.values())
    if only_seller is None:  # shipping's tax is on the order, not on a line
        line_tax = order.total - sum(m.gross for m in order.sellers.values())
    parts = split(amount, {**{s: m.gross for s, m in sellers.items()}, TAX: max(0, line_tax)})
    charged = await _commission_charged(uow, order_id)
    postings: list[Posting] = []
    for seller_id, share in sellers.items():
        part = parts.get(seller_id, 0)
        back = (part * charged.get(seller_id, 0) + share.gross // 2) // share.gross if share.gross else 0
        src = f"refund:{refund_ref}:{seller_id}"
        postings += [
            Posting("seller", seller_id, "refund", -part, f"{src}:refund", order_id, refund_ref),
            Posting("seller", seller_id, "commission", back, f"{src}:commission", order_id, refund_ref),
            Posting("commission", seller_id, "commission", -back, f"{src}:revenue", order_id, refund_ref),
        ]
    postings.append(Posting("tax", None, "tax", -parts.get(TAX, 0), f"refund:{refund_ref}:tax", order_id, refund_ref))
    return await post(uow, postings, currency=currency, available_at=release_time(order, hold, utcnow()))


async def record_dispute(
    *, uow: UnitOfWork, order_id: str, dispute_id: str, step: str, amount: int, currency: str, hold: timedelta
) -> int:
    """A dispute's money for the order's sellers, shared by their gross: `opened` debits the amount (the provider
    takes it back at once), `won` restores it, `lost` debits the provider's fee (`amount` is the fee then)."""
    order = await orders.order_money(uow=uow, order_id=order_id)
    parts = split(amount, {s: m.gross + m.tax for s, m in order.sellers.items()})
    kind, sign = {"opened": ("dispute", -1), "won": ("dispute", 1), "lost": ("dispute_fee", -1)}[step]
    postings = [
        Posting("seller", s, kind, sign * part, f"dispute:{dispute_id}:{step}:{s}", order_id, dispute_id=dispute_id)
        for s, part in parts.items()
    ]
    released = release_time(order, hold, utcnow())
    return await post(uow, postings, currency=currency, available_at=utcnow() if released is None else released)


async def release_order(*, uow: UnitOfWork, order_id: str, hold: timedelta) -> int:
    """Set when the order's pending entries become available (after delivery, or at once when cancelled)."""
    order = await orders.order_money(uow=uow, order_id=order_id)
    at = release_time(order, hold, utcnow())
    if at is None:
        return 0
    done = await uow.session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.order_id == order_id, LedgerEntry.available_at.is_(None))
        .values(available_at=at)
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def is_available(now: datetime) -> ColumnElement[bool]:
    """An entry counts towards the available balance from its `available_at`; a payout (or its reversal) at once,
    even one dated later, so a payout opened under an earlier clock still sees every payout made."""
    return and_(
        LedgerEntry.available_at.is_not(None), or_(LedgerEntry.available_at <= now, LedgerEntry.kind == "payout")
    )


async def balance(*, uow: UnitOfWork, seller_id: str, now: datetime | None = None) -> BalanceRead:
    now = now or utcnow()
    mine = (LedgerEntry.account == "seller", LedgerEntry.seller_id == seller_id)
    available = func.coalesce(func.sum(LedgerEntry.amount).filter(is_available(now)), 0)
    total = func.coalesce(func.sum(LedgerEntry.amount), 0)
    paid = func.coalesce(func.sum(LedgerEntry.amount).filter(LedgerEntry.kind == "payout"), 0)
    row = (await uow.session.execute(select(total, available, paid).where(*mine))).one()
    currency = (
        await uow.session.execute(select(SellerAccount.currency).where(SellerAccount.seller_id == seller_id))
    ).scalar_one_or_none() or "USD"
    return BalanceRead(
        pending=money(int(row[0]) - int(row[1]), currency),
        available=money(int(row[1]), currency),
        paid_out=money(-int(row[2]), currency),
    )


async def balances(*, uow: UnitOfWork, seller_ids: list[str]) -> dict[str, int]:
    """Each seller's whole balance (pending + available), from the entries."""
    if not seller_ids:
        return {}
    rows = await uow.session.execute(
        select(LedgerEntry.seller_id, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.account == "seller", LedgerEntry.seller_id.in_(seller_ids))
        .group_by(LedgerEntry.seller_id)
    )
    return {str(s): int(t or 0) for s, t in rows}


async def set_commission(*, uow: UnitOfWork, default_bps: int, categories: dict[str, int]) -> CommissionRead:
    """Replace the rates; sales captured from now on use them (entries already written keep theirs)."""
    bad = {c: v for c, v in categories.items() if not 0 <= v <= 10_000}
    if bad:
        raise InvalidCommission(categories=bad)
    known = await catalog.category_names(uow=uow, category_ids=list(categories))
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise InvalidCommission("unknown categories", categories=unknown)
    await uow.session.execute(delete(CommissionRate))
    now = utcnow()
    uow.session.add(CommissionRate(scope="default", bps=default_bps, updated_at=now))
    for category_id, bps in sorted(categories.items()):
        uow.session.add(CommissionRate(scope=category_id, bps=bps, updated_at=now))
    await uow.flush()
    return CommissionRead(default_bps=default_bps, categories=dict(sorted(categories.items())))


async def commission_rates(*, uow: UnitOfWork) -> CommissionRead:
    rates = await _rates(uow)
    default = rates.pop("default", DEFAULT_BPS)
    return CommissionRead(default_bps=default, categories=rates)


def entry_row(e: LedgerEntry) -> dict[str, Any]:
    return {
        "id": e.id, "kind": e.kind, "amount": money(e.amount, e.currency), "order_id": e.order_id,
        "dispute_id": e.dispute_id, "payout_id": e.payout_id, "created_at": e.created_at,
        "available_at": e.available_at,
    }  # fmt: skip


async def set_payout_destination(*, uow: UnitOfWork, seller_id: str, account: str) -> None:
    """Where the seller's next payouts go (payouts already sent keep theirs)."""
    await ensure_account(uow, seller_id)
    await uow.session.execute(
        update(SellerAccount).where(SellerAccount.seller_id == seller_id).values(payout_destination=account)
    )
    await uow.commit()
