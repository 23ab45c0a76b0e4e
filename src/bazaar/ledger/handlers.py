"""The `ledger` consumer (shared: once in the cluster): posts captures and refunds, releases delivered orders.

Order-independent: each posting's source is unique, a release only fills entries still pending, and a capture
posted after the delivery it follows is written already released.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.ledger import service
from bazaar.orders import queries as orders

TOPICS = (
    "payments.payment_captured.v1",
    "payments.payment_refunded.v1",
    "orders.order_status_changed.v1",
)


def post_ledger(hold: timedelta) -> Callable[[UnitOfWork, dict[str, Any]], Awaitable[None]]:
    async def handle(uow: UnitOfWork, event: dict[str, Any]) -> None:
        topic, p = event["topic"], event["payload"]
        if topic == "payments.payment_captured.v1":
            await service.record_capture(
                uow=uow, order_id=p["order_id"], payment_ref=p["payment_id"], captured=p["amount"],
                currency=p["currency"], hold=hold,
            )  # fmt: skip
        elif topic == "payments.payment_refunded.v1":
            refund_id = str(p["refund_id"])
            seller = None
            if refund_id.startswith("return:"):
                seller = await orders.return_seller(uow=uow, return_id=refund_id.removeprefix("return:"))
            await service.record_refund(
                uow=uow, order_id=p["order_id"], refund_ref=f"{p['payment_id']}:{refund_id}", amount=p["amount"],
                currency=p["currency"], hold=hold, only_seller=seller,
            )  # fmt: skip
        elif p.get("status") in ("delivered", "cancelled"):
            await service.release_order(uow=uow, order_id=p["id"], hold=hold)

    return handle
