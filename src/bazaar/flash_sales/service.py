"""Flash-sale use cases: a seller schedules or cancels a sale; buyers read sales; the scheduler moves them on.

A sale's status is derived from the clock and its counters whenever it is read (`status_of`), so it
switches live and ends exactly on time for readers; the stored `status` is the lifecycle the
scheduler has announced (`flash_sales.sale_started.v1` / `sale_ended.v1`, which refresh product
pages and search), moved by conditional UPDATEs so several schedulers announce each change once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, select, text, true, update

from bazaar.catalog import queries as catalog
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales import events as ev
from bazaar.flash_sales.errors import (
    FlashSaleNotCancellable,
    FlashSaleNotFound,
    FlashSaleOverlaps,
    InvalidFlashSale,
)
from bazaar.flash_sales.limits import MAX_LEAD_DAYS, MAX_WINDOW_DAYS, START_SLACK_SECONDS
from bazaar.flash_sales.models import FlashSale
from bazaar.flash_sales.schemas import FlashSaleCreate, FlashSalePage, FlashSaleRead, SaleStatus
from bazaar.inventory.errors import InsufficientStock, OfferNotFound
from bazaar.inventory.stock import stock_levels
from bazaar.kernel.clock import iso, utcnow
from bazaar.kernel.schemas import money

SCHEDULER_BATCH = 100


def status_of(sale: FlashSale, now: datetime) -> SaleStatus:
    if sale.status == "cancelled":
        return "cancelled"
    if now >= sale.ends_at:
        return "ended"
    if now < sale.starts_at:
        return "scheduled"
    if sale.units_taken >= sale.units:
        return "sold_out"
    return "live"


def price_paid(sale_price: int, offer_price: int | None) -> int:
    """What a buyer admitted to a sale pays per unit: the sale's price, or the offer's own if that is now lower
    (the seller lowered it, or a timed sale started, after the flash sale was set). Checkout charges it and the
    pages show it."""
    return sale_price if offer_price is None else min(sale_price, offer_price)


def sale_read(sale: FlashSale, *, now: datetime | None = None, regular_price: int | None = None) -> FlashSaleRead:
    now = now or utcnow()
    return FlashSaleRead(
        id=sale.id,
        offer_id=sale.offer_id,
        product_id=sale.product_id,
        seller_id=sale.seller_id,
        status=status_of(sale, now),
        price=money(sale.price_amount, sale.currency),
        regular_price=money(regular_price, sale.currency) if regular_price is not None else None,
        units=sale.units,
        units_left=sale.units - sale.units_taken,
        units_sold=sale.units_sold,
        per_buyer_limit=sale.per_buyer_limit,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        seconds_to_start=max(0, int((sale.starts_at - now).total_seconds())),
        seconds_to_end=max(0, int((sale.ends_at - now).total_seconds())),
    )


def _check_window(data: FlashSaleCreate, now: datetime) -> tuple[datetime, datetime]:
    starts_at, ends_at = data.starts_at, data.ends_at
    if starts_at < now - timedelta(seconds=START_SLACK_SECONDS):
        raise InvalidFlashSale("the sale cannot start in the past", field="starts_at")
    if ends_at <= starts_at:
        raise InvalidFlashSale("the sale must end after it starts", field="ends_at")
    if ends_at - starts_at > timedelta(days=MAX_WINDOW_DAYS):
        raise InvalidFlashSale(f"a flash sale lasts at most {MAX_WINDOW_DAYS} days", field="ends_at")
    if starts_at > now + timedelta(days=MAX_LEAD_DAYS):
        raise InvalidFlashSale(f"a flash sale must start within {MAX_LEAD_DAYS} days", field="starts_at")
    return max(starts_at, now), ends_at


async def create_sale(*, uow: UnitOfWork, seller_id: str, data: FlashSaleCreate) -> FlashSaleRead:
    """Schedule a sale of `units` of the seller's own offer at `price` in [starts_at, ends_at)."""
    now = utcnow()
    starts_at, ends_at = _check_window(data, now)
    offer = (await catalog.offer_facts(uow=uow, offer_ids=[data.offer_id])).get(data.offer_id)
    if offer is None or offer.seller_id != seller_id or not offer.active:
        raise OfferNotFound(offer_id=data.offer_id)
    if data.price.currency != offer.currency:
        raise InvalidFlashSale(f"the sale price must be in {offer.currency}, the offer's currency", field="price")
    if data.price.amount >= offer.price_amount:
        raise InvalidFlashSale(
            f"a flash sale's price must be below the offer's price of {offer.price_amount} (in minor units)",
            field="price",
        )
    if data.per_buyer_limit > data.units:
        raise InvalidFlashSale("the per-buyer limit cannot be more than the units on sale", field="per_buyer_limit")
    level = (await stock_levels(uow=uow, offer_ids=[offer.id])).get(offer.id)
    available = level.available if level else 0
    if data.units > available:
        raise InsufficientStock(
            f"the offer has {available} units available, fewer than the sale's {data.units}",
            offers=[{"offer_id": offer.id, "requested": data.units, "available": available}],
        )
    if uow.is_postgres:  # two sales scheduled at once for one offer: the second waits here, then sees the first
        await uow.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"flash-sale:{offer.id}"}
        )
    clash = await uow.session.scalar(
        select(FlashSale.id).where(
            FlashSale.offer_id == offer.id,
            FlashSale.status != "cancelled",
            FlashSale.starts_at < ends_at,
            FlashSale.ends_at > starts_at,
        )
    )
    if clash is not None:
        raise FlashSaleOverlaps(sale_id=clash)
    sale = FlashSale(
        offer_id=offer.id,
        product_id=offer.product_id,
        seller_id=seller_id,
        price_amount=data.price.amount,
        currency=offer.currency,
        units=data.units,
        per_buyer_limit=data.per_buyer_limit,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    uow.session.add(sale)
    await uow.session.flush()
    uow.emit(ev.SaleScheduled(sale.id, offer.id, offer.product_id, seller_id, iso(starts_at) or "", iso(ends_at) or ""))
    await uow.commit()
    return sale_read(sale, now=now, regular_price=offer.price_amount)


async def load_sale(uow: UnitOfWork, sale_id: str) -> FlashSale:
    sale = await uow.session.get(FlashSale, sale_id)
    if sale is None:
        raise FlashSaleNotFound(sale_id=sale_id)
    return sale


async def get_sale(*, uow: UnitOfWork, sale_id: str) -> FlashSaleRead:
    sale = await load_sale(uow, sale_id)
    offer = (await catalog.offer_facts(uow=uow, offer_ids=[sale.offer_id])).get(sale.offer_id)
    return sale_read(sale, regular_price=offer.price_amount if offer else None)


async def list_sales(
    *,
    uow: UnitOfWork,
    product_id: str | None = None,
    seller_id: str | None = None,
    current: bool = False,
    page: int = 1,
    per_page: int = 20,
) -> FlashSalePage:
    """Sales of a product or a seller, soonest first; `current`: only those not yet ended or cancelled."""
    now = utcnow()
    where = []
    if product_id is not None:
        where.append(FlashSale.product_id == product_id)
    if seller_id is not None:
        where.append(FlashSale.seller_id == seller_id)
    if current:
        where += [FlashSale.ends_at > now, FlashSale.status != "cancelled"]
    condition = and_(true(), *where)
    total = int(await uow.session.scalar(select(func.count()).select_from(FlashSale).where(condition)) or 0)
    rows = (
        await uow.session.execute(
            select(FlashSale)
            .where(condition)
            .order_by(FlashSale.starts_at.desc() if seller_id else FlashSale.starts_at, FlashSale.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    ).scalars()
    sales = list(rows)
    offers = await catalog.offer_facts(uow=uow, offer_ids=[s.offer_id for s in sales])
    items = [
        sale_read(s, now=now, regular_price=offers[s.offer_id].price_amount if s.offer_id in offers else None)
        for s in sales
    ]
    return FlashSalePage(items=items, total=total, page=page, per_page=per_page)


async def cancel_sale(*, uow: UnitOfWork, seller_id: str, sale_id: str) -> FlashSaleRead:
    """The seller calls a sale off before it ends; holds already made stay valid until they expire or sell."""
    now = utcnow()
    done = await uow.session.execute(
        update(FlashSale)
        .where(
            FlashSale.id == sale_id,
            FlashSale.seller_id == seller_id,
            FlashSale.status.in_(("scheduled", "live")),
            FlashSale.ends_at > now,
        )
        .values(status="cancelled", updated_at=now)
        .returning(FlashSale.id)
        .execution_options(synchronize_session=False)
    )
    if done.scalar_one_or_none() is None:
        sale = await uow.session.get(FlashSale, sale_id)
        if sale is None or sale.seller_id != seller_id:
            raise FlashSaleNotFound(sale_id=sale_id)
        raise FlashSaleNotCancellable(sale_id=sale_id)
    sale = await load_sale(uow, sale_id)
    await uow.session.refresh(sale)
    uow.emit(ev.SaleEnded(sale.id, sale.offer_id, sale.product_id, "cancelled", sale.units_sold))
    await uow.commit()
    return sale_read(sale, now=now)


async def announce_due(*, uow: UnitOfWork, now: datetime | None = None) -> int:
    """Move sales whose window opened to `live` and whose window closed to `ended`, one event each.

    Each move is a conditional UPDATE on the stored status, so schedulers running in several
    processes never announce one change twice; answers how many sales moved.
    """
    now = now or utcnow()
    moved = 0
    for old, new, due in (
        ("scheduled", "ended", FlashSale.ends_at <= now),  # a window missed whole (the scheduler was down)
        ("live", "ended", FlashSale.ends_at <= now),
        ("scheduled", "live", FlashSale.starts_at <= now),
    ):
        rows = await uow.session.execute(
            update(FlashSale)
            .where(
                FlashSale.id.in_(
                    select(FlashSale.id).where(FlashSale.status == old, due).limit(SCHEDULER_BATCH).scalar_subquery()
                ),
                FlashSale.status == old,
            )
            .values(status=new, updated_at=now)
            .returning(FlashSale.id, FlashSale.offer_id, FlashSale.product_id, FlashSale.units_sold)
            .execution_options(synchronize_session=False)
        )
        for sale_id, offer_id, product_id, units_sold in rows:
            if new == "live":
                uow.emit(ev.SaleStarted(sale_id, offer_id, product_id))
            else:
                uow.emit(ev.SaleEnded(sale_id, offer_id, product_id, "ended", units_sold))
            moved += 1
    await uow.commit()
    return moved


async def live_sales_of(
    *, uow: UnitOfWork, offer_ids: Sequence[str], now: datetime | None = None
) -> list[tuple[str, str]]:
    """(offer id, sale id) of the sales whose window is open now on any of these offers (cancelled ones
    excluded), in offer-id order: a whole cart in one query."""
    rows = await uow.fetch(_LIVE_SALES, {"ids": sorted(set(offer_ids)), "now": now or utcnow()})
    return [(offer_id, sale_id) for offer_id, sale_id in rows]


_now = bindparam("now", type_=FlashSale.starts_at.type)
_LIVE_SALES = Prepared.listing(  # built once: every cart checkout runs it
    lambda one_of: (
        select(FlashSale.offer_id, FlashSale.id)
        .where(
            one_of(FlashSale.__table__.c.offer_id, "ids"),
            FlashSale.status != "cancelled",
            FlashSale.starts_at <= _now,
            FlashSale.ends_at > _now,
        )
        .order_by(FlashSale.offer_id)
    )
)


async def sales_in_view(*, uow: UnitOfWork, now: datetime | None = None, ahead: timedelta) -> list[FlashSale]:
    """Sales open now or opening within `ahead`: what the per-process calendar keeps."""
    now = now or utcnow()
    rows = await uow.session.execute(
        select(FlashSale).where(
            FlashSale.status != "cancelled", FlashSale.ends_at > now, FlashSale.starts_at <= now + ahead
        )
    )
    return list(rows.scalars())
