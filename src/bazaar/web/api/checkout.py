"""Checkout endpoints: quote, place (with an Idempotency-Key; as a guest with X-Cart-Id and an email), follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from bazaar.checkout import guest, service
from bazaar.checkout.schemas import CheckoutRead, CheckoutRequest, QuoteRead, QuoteRequest
from bazaar.kernel.errors import NotAuthenticated, ValidationFailed
from bazaar.web.api.deps import CartIdHeader, ContainerDep, OptionalUser, ReadUowDep, client_ip

router = APIRouter(tags=["checkout"])
# Checked by the checkout service (400 `idempotency_key_required` when missing or blank, `idempotency_key_invalid` when
# too long), so written here for the document only.
IDEMPOTENCY_KEY = {
    "description": "any unique string per checkout attempt; a retry sends the same one",
    "minLength": 1,
    "maxLength": service.MAX_IDEMPOTENCY_KEY,
    "pattern": "\\S",
}
Access = Annotated[str | None, Query(max_length=128, description="a guest checkout's access token")]


@router.post("/checkout/quote", response_model=QuoteRead)
async def quote(
    body: QuoteRequest, principal: OptionalUser, uow: ReadUowDep, x_cart_id: CartIdHeader = None
) -> QuoteRead:
    if principal is None and not x_cart_id:
        raise NotAuthenticated("log in, or send X-Cart-Id to price a guest's cart")
    user_id = principal.user_id if principal else None
    return await service.quote_checkout(
        uow=uow, user_id=user_id, request=body, guest_cart_id=None if principal else x_cart_id
    )


@router.post(
    "/checkout",
    status_code=201,
    response_model=CheckoutRead,
    responses={202: {"model": CheckoutRead, "description": "still processing; poll GET /checkout/{id}"}},
)
async def place(
    body: CheckoutRequest,
    request: Request,
    principal: OptionalUser,
    container: ContainerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", json_schema_extra=IDEMPOTENCY_KEY)] = None,
    x_cart_id: CartIdHeader = None,
) -> JSONResponse:
    if principal is not None:
        if body.email is not None and body.email != principal.email.lower():
            raise ValidationFailed("you are logged in as another email; log out to check out as a guest")
        result = await service.start_checkout(
            deps=container.saga_deps(), user_id=principal.user_id, idempotency_key=idempotency_key, request=body
        )
    else:
        s = container.settings
        await container.limiter.hit("guest-checkout-ip", client_ip(request), limit=s.guest_checkout_limit_per_minute)
        if body.email is not None:
            await container.limiter.hit(
                "guest-checkout-email", body.email, limit=s.guest_checkout_email_limit_per_minute
            )
        result = await guest.start_guest_checkout(
            deps=container.saga_deps(),
            secret=s.secret_key,
            cart_id=x_cart_id,
            idempotency_key=idempotency_key,
            request=body,
        )
    status = 201 if result.status == "completed" else 202
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


@router.get("/checkout/{checkout_id:id}", response_model=CheckoutRead)
async def get_checkout(
    checkout_id: str, principal: OptionalUser, uow: ReadUowDep, container: ContainerDep, access: Access = None
) -> CheckoutRead:
    if access:
        secret = container.settings.secret_key
        return await guest.get_guest_checkout(uow=uow, checkout_id=checkout_id, token=access, secret=secret)
    if principal is None:
        raise NotAuthenticated("log in to see this checkout")
    return await service.get_checkout_read(uow=uow, checkout_id=checkout_id, user_id=principal.user_id)
