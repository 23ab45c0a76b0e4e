"""Order endpoints: buyers' orders, cancellation and returns; sellers' fulfilment and returns; carrier events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bazaar.disputes import queries as disputes
from bazaar.kernel.errors import NotAuthenticated
from bazaar.kernel.schemas import Page
from bazaar.orders import queries, returns, service
from bazaar.orders.schemas import (
    OrderRead,
    OrderSummary,
    ReturnRead,
    ReturnRequest,
    ShipmentCreate,
    ShipmentRead,
    TrackingEventCreate,
)
from bazaar.shipping import service as shipping
from bazaar.web.api.deps import (
    ContainerDep,
    CurrentSeller,
    CurrentUser,
    OptionalUser,
    ReadUowDep,
    ReplicaUowDep,
    UowDep,
)

router = APIRouter(tags=["orders"])
PageNo = Annotated[int, Query(ge=1, le=10_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]


@router.get("/orders", response_model=Page[OrderSummary])
async def list_orders(
    principal: CurrentUser, uow: ReplicaUowDep, page: PageNo = 1, per_page: PerPage = 20
) -> Page[OrderSummary]:
    return await queries.list_orders(uow=uow, user_id=principal.user_id, seller_id=None, page=page, per_page=per_page)


@router.get("/orders/{order_id}", response_model=OrderRead)
async def get_order(
    order_id: str,
    principal: OptionalUser,
    uow: ReadUowDep,
    container: ContainerDep,
    access: Annotated[str | None, Query(max_length=128, description="a guest order's access token")] = None,
) -> OrderRead:
    if access:
        secret = container.settings.secret_key
        order = await queries.get_order_by_access(uow=uow, order_id=order_id, token=access, secret=secret)
    elif principal is None:
        raise NotAuthenticated("log in to see this order")
    else:
        order = await queries.get_order(
            uow=uow, order_id=order_id, user_id=principal.user_id, seller_id=principal.seller_id
        )
    return await disputes.with_disputes(uow=uow, order=order)


@router.post("/orders/{order_id}/cancel", response_model=OrderRead)
async def cancel_order(order_id: str, principal: CurrentUser, container: ContainerDep, uow: UowDep) -> OrderRead:
    payments = container.order_payments()
    await uow.run(
        lambda: service.cancel_order(uow=uow, payments=payments, order_id=order_id, user_id=principal.user_id)
    )
    return await queries.get_order(uow=uow, order_id=order_id, user_id=principal.user_id, seller_id=None)


@router.post("/orders/{order_id}/returns", status_code=201, response_model=ReturnRead)
async def request_return(order_id: str, body: ReturnRequest, principal: CurrentUser, uow: UowDep) -> ReturnRead:
    return await returns.request_return(
        uow=uow, order_id=order_id, user_id=principal.user_id, lines=body.lines, reason=body.reason
    )


@router.get("/sellers/me/orders", response_model=Page[OrderSummary])
async def seller_orders(
    principal: CurrentSeller, uow: ReplicaUowDep, page: PageNo = 1, per_page: PerPage = 20
) -> Page[OrderSummary]:
    return await queries.list_orders(uow=uow, user_id=None, seller_id=principal.seller_id, page=page, per_page=per_page)


@router.post("/sellers/me/orders/{order_id}/shipments", status_code=201, response_model=ShipmentRead)
async def ship(order_id: str, body: ShipmentCreate, principal: CurrentSeller, uow: UowDep) -> ShipmentRead:
    assert principal.seller_id is not None
    return await shipping.create_shipment(
        uow=uow,
        seller_id=principal.seller_id,
        order_id=order_id,
        line_ids=body.line_ids,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
    )


@router.post("/shipments/{shipment_id}/events", response_model=ShipmentRead)
async def tracking_event(
    shipment_id: str, body: TrackingEventCreate, principal: CurrentUser, uow: UowDep
) -> ShipmentRead:
    return await shipping.record_tracking_event(
        uow=uow,
        shipment_id=shipment_id,
        seller_id=principal.seller_id,
        is_admin=principal.has_role("admin"),
        status=body.status,
        at=body.at,
        location=body.location,
    )


@router.post("/sellers/me/returns/{return_id}/receive", response_model=ReturnRead)
async def receive_return(return_id: str, principal: CurrentSeller, container: ContainerDep, uow: UowDep) -> ReturnRead:
    assert principal.seller_id is not None
    payments, seller_id = container.order_payments(), principal.seller_id
    return await uow.run(
        lambda: returns.receive_return(uow=uow, payments=payments, return_id=return_id, seller_id=seller_id)
    )
