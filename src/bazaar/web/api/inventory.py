"""Inventory endpoints: a buyer's stock hold (used before checkout exists, and by the flash-sale benchmark),
and a seller's bucket count for a hot offer."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from bazaar.flash_sales import guard as flash_guard
from bazaar.flash_sales import holds as flash_holds
from bazaar.inventory import service
from bazaar.inventory.hot import hold_units
from bazaar.inventory.schemas import (
    BucketsUpdate,
    OfferStockRead,
    ReservationCreate,
    ReservationRead,
)
from bazaar.web.api.deps import ContainerDep, CurrentSeller, CurrentUser, UowDep

router = APIRouter(tags=["inventory"])


async def turn_away_when_sold_out(body: ReservationCreate, container: ContainerDep) -> None:
    """Runs before authentication, so a flash sale's late buyers are answered 409 without a database query."""
    if body.admission_token is not None:
        return  # a sale's holds are counted against the sale's units, not turned away by the offer's flag
    await service.refuse_if_sold_out(sold_out=container.sold_out, offer_id=body.offer_id, quantity=body.quantity)


@router.post(
    "/reservations",
    status_code=201,
    response_model=ReservationRead,
    dependencies=[Depends(turn_away_when_sold_out)],
)
async def reserve(body: ReservationCreate, principal: CurrentUser, container: ContainerDep) -> ReservationRead:
    """Also answered by web.fastwrite for plain bodies with a bearer token (the same services, in this order).

    With `admission_token` the hold goes through the flash sale that admitted the buyer; without it, an offer
    in a live flash sale answers 409 `admission_required`.
    """
    if body.admission_token is not None:
        return await flash_holds.hold_in_line(
            line=container.sale_hold_line,
            uow_factory=container.uow,
            secret=container.settings.secret_key,
            admission_token=body.admission_token,
            offer_id=body.offer_id,
            buyer_id=principal.user_id,
            quantity=body.quantity,
            ttl=container.hold_durations.ttl([body.offer_id], cap=container.settings.flash_hold_ttl_seconds),
            sold_out=container.sold_out,
            room=container.waiting_room,
            limits=container.hold_limits,
            calendar=container.flash_calendar,
        )
    await flash_guard.refuse_plain_hold(calendar=container.flash_calendar, offer_id=body.offer_id)
    return await hold_units(
        hot=container.hot_reservations,
        uow_factory=container.uow,
        offer_id=body.offer_id,
        quantity=body.quantity,
        user_id=principal.user_id,
        ttl=container.hold_durations.ttl([body.offer_id]),
        sold_out=container.sold_out,
        limits=container.hold_limits,
        limiter=container.limiter,
    )


@router.post("/reservations/{reservation_id}/release", response_model=ReservationRead)
async def release(reservation_id: str, principal: CurrentUser, container: ContainerDep, uow: UowDep) -> ReservationRead:
    return await uow.run(
        lambda: service.release_stock(
            uow=uow, reservation_id=reservation_id, user_id=principal.user_id, sold_out=container.sold_out
        )
    )


@router.put("/sellers/me/offers/{offer_id}/buckets", response_model=OfferStockRead)
async def set_buckets(offer_id: str, body: BucketsUpdate, seller: CurrentSeller, uow: UowDep) -> OfferStockRead:
    assert seller.seller_id is not None
    seller_id = seller.seller_id
    return await uow.run(
        lambda: service.set_offer_buckets(uow=uow, seller_id=seller_id, offer_id=offer_id, buckets=body.buckets)
    )
