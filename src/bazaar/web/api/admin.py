"""Operator endpoints under /admin: sellers' standing, takedowns, any order and goodwill refunds, the audit trail."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from bazaar.admin import queries, service
from bazaar.admin.queries import AdminOrderSummary
from bazaar.admin.schemas import (
    AdminActionRead,
    AdminOrderRead,
    AdminProductRead,
    AdminSellerRead,
    GoodwillRefundRead,
    ReasonIn,
    RefundIn,
    StatsRead,
)
from bazaar.disputes import queries as disputes
from bazaar.disputes.schemas import DisputeRead
from bazaar.kernel.schemas import Page
from bazaar.ledger import payouts as ledger_payouts
from bazaar.ledger import queries as ledger_queries
from bazaar.ledger import service as ledger
from bazaar.ledger.schemas import CommissionIn, CommissionRead, PayoutRead
from bazaar.web.api.deps import ContainerDep, CurrentAdmin, ReadUowDep, UowDep, current_admin

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(current_admin)])
PageNo = Annotated[int, Query(ge=1, le=10_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]
OrderStatus = Literal["pending", "processing", "shipped", "delivered", "cancelled", "returned"]


@router.get("/sellers", response_model=Page[AdminSellerRead])
async def list_sellers(
    uow: ReadUowDep,
    status: Literal["active", "suspended"] | None = None,
    page: PageNo = 1,
    per_page: PerPage = 20,
) -> Page[AdminSellerRead]:
    return await queries.list_sellers(uow=uow, status=status, page=page, per_page=per_page)


@router.post("/sellers/{seller_id}/suspend", response_model=AdminSellerRead)
async def suspend_seller(seller_id: str, body: ReasonIn, admin: CurrentAdmin, uow: UowDep) -> AdminSellerRead:
    return await service.suspend_seller(uow=uow, admin=admin, seller_id=seller_id, reason=body.reason)


@router.post("/sellers/{seller_id}/reinstate", response_model=AdminSellerRead)
async def reinstate_seller(
    seller_id: str, admin: CurrentAdmin, uow: UowDep, body: ReasonIn | None = None
) -> AdminSellerRead:
    reason = body.reason if body is not None else ""
    return await service.reinstate_seller(uow=uow, admin=admin, seller_id=seller_id, reason=reason)


@router.post("/products/{product_id}/takedown", response_model=AdminProductRead)
async def take_down_product(product_id: str, body: ReasonIn, admin: CurrentAdmin, uow: UowDep) -> AdminProductRead:
    return await service.take_down_product(uow=uow, admin=admin, product_id=product_id, reason=body.reason)


@router.delete("/products/{product_id}/takedown", response_model=AdminProductRead)
async def restore_product(product_id: str, admin: CurrentAdmin, uow: UowDep) -> AdminProductRead:
    return await service.take_down_product(uow=uow, admin=admin, product_id=product_id, reason="", restore=True)


@router.get("/orders", response_model=Page[AdminOrderSummary])
async def list_orders(
    uow: ReadUowDep,
    status: OrderStatus | None = None,
    buyer: Annotated[str | None, Query(max_length=320, description="a user id or an email")] = None,
    seller: Annotated[str | None, Query(max_length=64, description="a seller id")] = None,
    page: PageNo = 1,
    per_page: PerPage = 20,
) -> Page[AdminOrderSummary]:
    return await queries.list_orders(uow=uow, status=status, buyer=buyer, seller=seller, page=page, per_page=per_page)


@router.get("/orders/{order_id}", response_model=AdminOrderRead)
async def get_order(order_id: str, uow: ReadUowDep) -> AdminOrderRead:
    return await queries.get_order(uow=uow, order_id=order_id)


@router.post("/orders/{order_id}/refund", status_code=201, response_model=GoodwillRefundRead)
async def refund_order(
    order_id: str, body: RefundIn, admin: CurrentAdmin, container: ContainerDep, uow: UowDep
) -> GoodwillRefundRead:
    return await service.refund_order(
        uow=uow, admin=admin, payments_port=container.order_payments(), order_id=order_id,
        amount=body.amount, reason=body.reason,
    )  # fmt: skip


@router.get("/audit", response_model=Page[AdminActionRead])
async def audit_trail(
    uow: ReadUowDep,
    target_kind: Literal["seller", "product", "order", "dispute", "commission", "review"] | None = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    page: PageNo = 1,
    per_page: PerPage = 20,
) -> Page[AdminActionRead]:
    return await queries.audit_trail(
        uow=uow, target_kind=target_kind, target_id=target_id, page=page, per_page=per_page
    )


@router.get("/commission", response_model=CommissionRead)
async def commission(uow: ReadUowDep) -> CommissionRead:
    return await ledger.commission_rates(uow=uow)


@router.put("/commission", response_model=CommissionRead)
async def set_commission(body: CommissionIn, admin: CurrentAdmin, uow: UowDep) -> CommissionRead:
    return await service.set_commission(uow=uow, admin=admin, default_bps=body.default_bps, categories=body.categories)


@router.get("/payouts", response_model=Page[PayoutRead])
async def payouts(
    uow: ReadUowDep,
    seller: Annotated[str | None, Query(max_length=64)] = None,
    page: PageNo = 1,
    per_page: PerPage = 20,
) -> Page[PayoutRead]:
    return await ledger_queries.payouts(uow=uow, seller_id=seller, page=page, per_page=per_page)


@router.post("/payouts/run")
async def run_payouts(admin: CurrentAdmin, container: ContainerDep) -> dict[str, object]:
    """Pay every seller's available balance now (as `bazaar payouts run` does)."""
    report = await ledger_payouts.run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="admin")
    return {"run_id": report.run_id, "paid": report.paid, "failed": report.failed, "pending": report.pending,
            "amount": {"amount": report.amount, "currency": "USD"}}  # fmt: skip


@router.get("/disputes", response_model=Page[DisputeRead])
async def list_disputes(
    uow: ReadUowDep,
    status: Literal["open", "under_review", "won", "lost"] | None = None,
    seller: Annotated[str | None, Query(max_length=64)] = None,
    page: PageNo = 1,
    per_page: PerPage = 20,
) -> Page[DisputeRead]:
    """`status=open` lists those still undecided (open or under review)."""
    return await disputes.list_disputes(uow=uow, seller_id=seller, status=status, page=page, per_page=per_page)


@router.get("/stats", response_model=StatsRead)
async def stats(uow: ReadUowDep) -> StatsRead:
    return await queries.stats(uow=uow)
