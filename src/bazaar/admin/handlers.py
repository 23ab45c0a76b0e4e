"""The `admin-goodwill` consumer: a goodwill refund whose provider answer was lost is marked refunded once the
payment's reconciliation learns that it happened."""

from __future__ import annotations

from typing import Any

from bazaar.admin import service
from bazaar.db.uow import UnitOfWork

TOPICS = ("payments.payment_refunded.v1",)


async def settle_goodwill(uow: UnitOfWork, event: dict[str, Any]) -> None:
    refund_id = str(event["payload"].get("refund_id") or "")
    if refund_id.startswith("goodwill:"):
        await service.goodwill_refunded(uow=uow, refund_id=refund_id.removeprefix("goodwill:"))
