"""Operator reads: sellers with their standing, any order with its buyer, the audit trail."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bazaar.accounts import standing
from bazaar.admin.models import AdminAction
from bazaar.admin.schemas import AdminActionRead, AdminOrderRead, AdminSellerRead, BuyerRef, Figures, StatsRead
from bazaar.admin.service import admin_seller
from bazaar.db.uow import UnitOfWork
from bazaar.disputes import queries as disputes
from bazaar.inventory import service as inventory
from bazaar.kernel.clock import utcnow
from bazaar.kernel.schemas import Page, money
from bazaar.ledger import service as ledger
from bazaar.orders import queries as orders
from bazaar.orders.schemas import OrderSummary


async def list_sellers(*, uow: UnitOfWork, status: str | None, page: int, per_page: int) -> Page[AdminSellerRead]:
    sellers, total = await standing.list_sellers(uow=uow, status=status, page=page, per_page=per_page)
    balances = await ledger.balances(uow=uow, seller_ids=[s.id for s in sellers])
    open_disputes = await disputes.open_counts(uow=uow, seller_ids=[s.id for s in sellers])
    items = [admin_seller(s, balances.get(s.id, 0), open_disputes.get(s.id, 0)) for s in sellers]
    return Page[AdminSellerRead](items=items, total=total, page=page, per_page=per_page)


async def get_order(*, uow: UnitOfWork, order_id: str) -> AdminOrderRead:
    order = await disputes.with_disputes(uow=uow, order=await orders.get_order_as_operator(uow=uow, order_id=order_id))
    users = await standing.users_by_id(uow=uow, user_ids=[order.buyer_id])
    email, name, guest = users.get(order.buyer_id, ("", "", False))
    buyer = BuyerRef(id=order.buyer_id, email=email, name=name, is_guest=guest)
    return AdminOrderRead(**order.model_dump(), buyer=buyer)


class AdminOrderSummary(OrderSummary):
    buyer: BuyerRef


async def list_orders(
    *, uow: UnitOfWork, status: str | None, buyer: str | None, seller: str | None, page: int, per_page: int
) -> Page[AdminOrderSummary]:
    """`buyer` is a user id or an email; `seller` a seller id."""
    buyer_id = buyer
    if buyer and "@" in buyer:
        buyer_id = await standing.user_id_by_email(uow=uow, email=buyer) or "-"
    items, buyer_ids, total = await orders.search_orders(
        uow=uow, status=status, buyer_id=buyer_id, seller_id=seller, page=page, per_page=per_page
    )
    users = await standing.users_by_id(uow=uow, user_ids=buyer_ids)
    out = []
    for item, user_id in zip(items, buyer_ids, strict=True):
        email, name, guest = users.get(user_id, ("", "", False))
        out.append(
            AdminOrderSummary(**item.model_dump(), buyer=BuyerRef(id=user_id, email=email, name=name, is_guest=guest))
        )
    return Page[AdminOrderSummary](items=out, total=total, page=page, per_page=per_page)


async def audit_trail(
    *, uow: UnitOfWork, target_kind: str | None, target_id: str | None, page: int, per_page: int
) -> Page[AdminActionRead]:
    """Operator actions, newest first, optionally about one target."""
    where = []
    if target_kind:
        where.append(AdminAction.target_kind == target_kind)
    if target_id:
        where.append(AdminAction.target_id == target_id)
    total = int((await uow.session.execute(select(func.count()).select_from(AdminAction).where(*where))).scalar_one())
    rows = list(
        (
            await uow.session.execute(
                select(AdminAction)
                .where(*where)
                .order_by(AdminAction.created_at.desc(), AdminAction.id.desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).scalars()
    )
    users = await standing.users_by_id(uow=uow, user_ids=[a.admin_user_id for a in rows])
    items = [
        AdminActionRead(
            id=a.id, admin_user_id=a.admin_user_id, admin_email=users.get(a.admin_user_id, ("",))[0],
            action=a.action, target_kind=a.target_kind, target_id=a.target_id, reason=a.reason,
            details=a.details or {}, created_at=a.created_at,
        )
        for a in rows
    ]  # fmt: skip
    return Page[AdminActionRead](items=items, total=total, page=page, per_page=per_page)


async def stats(*, uow: UnitOfWork, now: datetime | None = None) -> StatsRead:
    """Today (since midnight UTC) and the last 30 days: GMV and orders (cancelled left out), buyers and sellers
    who sold, disputes open now, and the share of stock holds that became purchases."""
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    open_now = (await disputes.open_counts(uow=uow, seller_ids=[])).get("", 0)

    async def figures(since: datetime) -> Figures:
        gmv, count, buyers, sellers = await orders.sales_figures(uow=uow, since=since)
        ratio = await inventory.reservation_ratio(uow=uow, since=since)
        return Figures(gmv=money(gmv), orders=count, buyers=buyers, sellers=sellers, disputes_open=open_now,
                       reservation_to_purchase_ratio=ratio)  # fmt: skip

    return StatsRead(today=await figures(midnight), last_30_days=await figures(now - timedelta(days=30)))
