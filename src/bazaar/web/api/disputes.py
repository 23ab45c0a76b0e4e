"""Disputes: the payment provider's signed webhook, and sellers' disputes with their evidence."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from bazaar.disputes import queries, service
from bazaar.disputes.errors import InvalidSignature, MalformedWebhook
from bazaar.disputes.metrics import WEBHOOKS
from bazaar.disputes.schemas import DisputeRead, EvidenceIn
from bazaar.kernel.schemas import Page
from bazaar.web.api.deps import ContainerDep, CurrentSeller, ReadUowDep, UowDep

router = APIRouter(tags=["disputes"])
PageNo = Annotated[int, Query(ge=1, le=10_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]
Status = Literal["open", "under_review", "won", "lost"]
MAX_WEBHOOK_BYTES = 64 * 1024


@router.post("/webhooks/payments", responses={401: {"description": "bad or missing Bazaar-Signature"}})
async def payment_webhook(request: Request, container: ContainerDep, uow: UowDep) -> dict[str, str]:
    """The payment provider's events (disputes), signed with HMAC-SHA256 of the raw body in `Bazaar-Signature`.
    A repeated event id answers 200 and changes nothing; events may come in any order."""
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        body = b""  # refused below as unsigned
    s = container.settings
    policy = service.WebhookPolicy(
        secret=s.payment_webhook_secret, default_fee=s.dispute_fee_amount, hold=timedelta(days=s.payout_hold_days)
    )
    try:
        outcome = await service.handle_webhook(
            uow=uow, body=body, signature=request.headers.get("bazaar-signature"), policy=policy
        )
    except InvalidSignature:
        WEBHOOKS.labels("bad_signature").inc()
        raise
    except MalformedWebhook:
        WEBHOOKS.labels("malformed").inc()
        raise
    WEBHOOKS.labels(outcome).inc()
    return {"status": outcome}


@router.get("/sellers/me/disputes", response_model=Page[DisputeRead])
async def seller_disputes(
    seller: CurrentSeller, uow: ReadUowDep, status: Literal["open", "under_review", "won", "lost"] | None = None,
    page: PageNo = 1, per_page: PerPage = 20,
) -> Page[DisputeRead]:  # fmt: skip
    return await queries.list_disputes(uow=uow, seller_id=seller.seller_id, status=status, page=page, per_page=per_page)


@router.post("/sellers/me/disputes/{dispute_id}/evidence", response_model=DisputeRead)
async def submit_evidence(
    dispute_id: str, body: EvidenceIn, seller: CurrentSeller, container: ContainerDep, uow: UowDep
) -> DisputeRead:
    assert seller.seller_id is not None
    return await service.submit_evidence(
        uow=uow, gateway=container.payments, seller_id=seller.seller_id, dispute_id=dispute_id, text=body.text
    )
