"""Guest checkout: the same saga, idempotency, stock and payment guarantees, for a buyer known by an email.

The buyer is the email's guest identity (accounts.guest_buyer) and the cart is the anonymous cart the
guest names; the answer carries an access token that shows the checkout and its order without a login
(orders.access). Registering later with the email turns the guest into the account, orders included.
"""

from __future__ import annotations

from bazaar.accounts import service as accounts
from bazaar.checkout import saga, service
from bazaar.checkout.errors import CheckoutNotFound
from bazaar.checkout.schemas import CheckoutRead, CheckoutRequest
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.errors import NotAuthenticated, ValidationFailed
from bazaar.orders.access import access_token_for, access_token_matches


class CartRequired(ValidationFailed):
    """A guest checkout names its cart: send the cart's id in the X-Cart-Id header."""

    code = "cart_required"


async def start_guest_checkout(
    *,
    deps: saga.SagaDeps,
    secret: str,
    cart_id: str | None,
    idempotency_key: str | None,
    request: CheckoutRequest,
) -> CheckoutRead:
    if request.email is None:
        raise NotAuthenticated("log in, or give an email to check out as a guest")
    if not cart_id or len(cart_id) > 64:
        raise CartRequired()
    async with deps.uow_factory() as uow:
        buyer_id = await accounts.guest_buyer(uow=uow, email=request.email)
    result = await service.start_checkout(
        deps=deps, user_id=buyer_id, idempotency_key=idempotency_key, request=request, guest_cart_id=cart_id
    )
    result.access_token = access_token_for(secret=secret, checkout_id=result.id)
    return result


async def get_guest_checkout(*, uow: UnitOfWork, checkout_id: str, token: str, secret: str) -> CheckoutRead:
    """A checkout for whoever holds its access token; anyone else 404."""
    if not access_token_matches(secret=secret, checkout_id=checkout_id, token=token):
        raise CheckoutNotFound()
    read = await service.get_checkout_read(uow=uow, checkout_id=checkout_id, user_id=None)
    read.access_token = token
    return read
