"""Checkout endpoints: quote, place (with an Idempotency-Key), and follow a checkout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from bazaar.checkout import service
from bazaar.checkout.schemas import CheckoutRead, CheckoutRequest, QuoteRead, QuoteRequest
from bazaar.web.api.deps import ContainerDep, CurrentUser, ReadUowDep

router = APIRouter(tags=["checkout"])


@router.post("/checkout/quote", response_model=QuoteRead)
async def quote(body: QuoteRequest, principal: CurrentUser, uow: ReadUowDep) -> QuoteRead:
    return await service.quote_checkout(uow=uow, user_id=principal.user_id, request=body)


@router.post(
    "/checkout",
    status_code=201,
    response_model=CheckoutRead,
    responses={202: {"model": CheckoutRead, "description": "still processing; poll GET /checkout/{id}"}},
)
async def place(
    body: CheckoutRequest,
    principal: CurrentUser,
    container: ContainerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    result = await service.start_checkout(
        deps=container.saga_deps(), user_id=principal.user_id, idempotency_key=idempotency_key, request=body
    )
    status = 201 if result.status == "completed" else 202
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


@router.get("/checkout/{checkout_id}", response_model=CheckoutRead)
async def get_checkout(checkout_id: str, principal: CurrentUser, uow: ReadUowDep) -> CheckoutRead:
    return await service.get_checkout_read(uow=uow, checkout_id=checkout_id, user_id=principal.user_id)
