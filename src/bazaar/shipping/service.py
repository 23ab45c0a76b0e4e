"""Shipments: a seller ships some or all of their lines; carrier tracking events move them to delivered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import aware, utcnow
from bazaar.kernel.errors import Conflict, NotFound, ValidationFailed
from bazaar.orders.queries import OrderNotFound, buyer_for_seller, buyer_of, shipment_read
from bazaar.orders.schemas import ShipmentRead, TrackingEventRead
from bazaar.orders.service import add_to_directory, change_status, lock_lines, lock_order
from bazaar.shipping.events import ShipmentCreated, ShipmentDelivered
from bazaar.shipping.models import Shipment, ShipmentLine, TrackingEvent

PROGRESS = {"label_created": 0, "in_transit": 1, "out_for_delivery": 2, "delivered": 3}


class NotShippable(Conflict):
    """These lines cannot be shipped now."""

    code = "not_shippable"


class ShipmentNotFound(NotFound):
    """No such shipment."""

    code = "not_found"


class InvalidEventTime(ValidationFailed):
    """A tracking event's time must lie between the shipment's creation and now."""

    code = "invalid_event_time"


FUTURE_SKEW = timedelta(minutes=5)  # a carrier's clock may run a little ahead of ours


def event_time(at: datetime | None, *, shipped_at: datetime) -> datetime:
    """When the event happened: now when not given; never before the shipment was made nor in the future
    (a backdated delivery would close the buyer's return window before the parcel arrived)."""
    now = utcnow()
    if at is None:
        return now
    at = aware(at) if at.tzinfo is None else at.astimezone(UTC)
    if at < aware(shipped_at) or at > now + FUTURE_SKEW:
        raise InvalidEventTime(
            "the event time must lie between the shipment's creation and now",
            at=at.isoformat(), not_before=aware(shipped_at).isoformat(), not_after=(now + FUTURE_SKEW).isoformat(),
        )  # fmt: skip
    return at


class ShipmentAlreadyDelivered(Conflict):
    """This shipment was already delivered."""

    code = "already_delivered"


async def create_shipment(
    *, uow: UnitOfWork, seller_id: str, order_id: str, line_ids: list[str], carrier: str, tracking_number: str
) -> ShipmentRead:
    user_id = await buyer_for_seller(uow, seller_id=seller_id, order_id=order_id)
    order = None if user_id is None else await lock_order(uow, order_id, user_id)
    if order is None or user_id is None:
        raise OrderNotFound()
    lines = await lock_lines(uow, order_id, user_id)
    mine = {li.id: li for li in lines if li.seller_id == seller_id}
    if not mine:
        raise OrderNotFound()
    if order.status != "processing":
        reason = "wait until the payment is captured" if order.status == "pending" else f"the order is {order.status}"
        raise NotShippable(f"this order cannot be shipped: {reason}", current_status=order.status)
    wanted = list(dict.fromkeys(line_ids))
    foreign = [i for i in wanted if i not in mine]
    if foreign:
        raise NotShippable("these lines are not yours to ship", order_line_ids=foreign)
    done = [i for i in wanted if mine[i].shipped_quantity >= mine[i].quantity]
    if done:
        raise NotShippable("these lines have already shipped", order_line_ids=done)
    shipment = Shipment(
        order_id=order_id, user_id=user_id, seller_id=seller_id, carrier=carrier, tracking_number=tracking_number
    )
    uow.session.add(shipment)
    await uow.flush()
    add_to_directory(uow, any_id=shipment.id, user_id=user_id, order_id=order_id)
    for line_id in wanted:
        line = mine[line_id]
        left = line.quantity - line.shipped_quantity
        uow.session.add(ShipmentLine(shipment_id=shipment.id, order_line_id=line_id, user_id=user_id, quantity=left))
        line.shipped_quantity = line.quantity
    uow.session.add(TrackingEvent(shipment_id=shipment.id, user_id=user_id, status="label_created", at=utcnow()))
    if all(li.shipped_quantity >= li.quantity for li in lines):
        await change_status(
            uow=uow,
            order_id=order_id,
            user_id=order.user_id,
            current=order.status,
            target="shipped",
            note="every item has shipped",
        )
    uow.emit(
        ShipmentCreated(
            id=shipment.id,
            order_id=order_id,
            seller_id=seller_id,
            user_id=order.user_id,
            carrier=carrier,
            tracking_number=tracking_number,
        )
    )
    await uow.commit()
    return await read_shipment(uow=uow, shipment_id=shipment.id, user_id=user_id)


async def _shipment(uow: UnitOfWork, shipment_id: str, user_id: str | None) -> Shipment:
    shipment = None if user_id is None else await uow.session.get(Shipment, (shipment_id, user_id))
    if shipment is None:
        raise ShipmentNotFound()
    return shipment


async def read_shipment(*, uow: UnitOfWork, shipment_id: str, user_id: str | None = None) -> ShipmentRead:
    """A shipment; its buyer from the directory unless given."""
    shipment = await _shipment(uow, shipment_id, user_id or await buyer_of(uow, shipment_id))
    mine = (ShipmentLine.shipment_id == shipment_id, ShipmentLine.user_id == shipment.user_id)
    line_ids = sorted((await uow.session.execute(select(ShipmentLine.order_line_id).where(*mine))).scalars())
    events = [
        TrackingEventRead(status=e.status, location=e.location, at=e.at)
        for e in (
            await uow.session.execute(
                select(TrackingEvent)
                .where(TrackingEvent.shipment_id == shipment_id, TrackingEvent.user_id == shipment.user_id)
                .order_by(TrackingEvent.at)
            )
        ).scalars()
    ]
    return shipment_read(shipment, line_ids, events)


async def record_tracking_event(
    *,
    uow: UnitOfWork,
    shipment_id: str,
    seller_id: str | None,
    is_admin: bool,
    status: str,
    at: datetime | None,
    location: str | None,
) -> ShipmentRead:
    """A carrier's webhook: that shipment's seller or an admin; delivered orders follow their shipments."""
    shipment = await _shipment(uow, shipment_id, await buyer_of(uow, shipment_id))
    if not is_admin and shipment.seller_id != seller_id:
        raise ShipmentNotFound()  # another seller learns nothing, not even that it exists
    if shipment.status == "delivered":
        raise ShipmentAlreadyDelivered()
    at = event_time(at, shipped_at=shipment.created_at)
    uow.session.add(
        TrackingEvent(shipment_id=shipment_id, user_id=shipment.user_id, status=status, location=location, at=at)
    )
    if PROGRESS[status] > PROGRESS[shipment.status]:
        shipment.status = status
    if status == "delivered":
        shipment.delivered_at = at
        await _maybe_delivered(uow, shipment, at)
    await uow.commit()
    return await read_shipment(uow=uow, shipment_id=shipment_id, user_id=shipment.user_id)


async def _maybe_delivered(uow: UnitOfWork, shipment: Shipment, at: datetime) -> None:
    order = await lock_order(uow, shipment.order_id, shipment.user_id)
    assert order is not None
    uow.emit(ShipmentDelivered(id=shipment.id, order_id=order.id, seller_id=shipment.seller_id, user_id=order.user_id))
    await uow.flush()
    statuses = (
        await uow.session.execute(
            select(Shipment.status).where(Shipment.order_id == order.id, Shipment.user_id == order.user_id)
        )
    ).scalars()
    if order.status == "shipped" and all(s == "delivered" for s in statuses):
        order.delivered_at = at
        await change_status(
            uow=uow,
            order_id=order.id,
            user_id=order.user_id,
            current="shipped",
            target="delivered",
            note="every shipment was delivered",
        )
