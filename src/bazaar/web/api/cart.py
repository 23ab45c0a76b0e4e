"""Cart endpoints: anonymous carts by `X-Cart-Id` (or the `bazaar_cart` cookie), a logged-in user's one cart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from bazaar.cart import service
from bazaar.cart.schemas import CartItemAdd, CartItemUpdate, CartRead
from bazaar.promotions.schemas import VoucherApply
from bazaar.web.api.deps import CartIdHeader, ContainerDep, OptionalUser, ReadUowDep, UowDep

router = APIRouter(tags=["cart"])
CART_COOKIE = "bazaar_cart"
CART_COOKIE_SECONDS = 30 * 24 * 3600


async def cart_owner(  # async: a plain `def` dependency runs in FastAPI's thread pool
    request: Request,
    principal: OptionalUser,
    x_cart_id: CartIdHeader = None,
) -> service.CartOwner:
    if principal is not None:
        return service.CartOwner(user_id=principal.user_id)
    return service.CartOwner(cart_id=x_cart_id or request.cookies.get(CART_COOKIE) or None)


Owner = Annotated[service.CartOwner, Depends(cart_owner)]


def _remember(request: Request, response: Response, owner: service.CartOwner, cart: CartRead) -> CartRead:
    """The storefront keeps an anonymous cart in a cookie (Secure over HTTPS); API clients read `id` and send
    X-Cart-Id."""
    if owner.user_id is None and cart.id is not None:
        secure = request.url.scheme == "https"
        response.set_cookie(
            CART_COOKIE, cart.id, max_age=CART_COOKIE_SECONDS, httponly=True, samesite="lax", secure=secure, path="/"
        )
    return cart


@router.get("/cart", response_model=CartRead)
async def get_cart(owner: Owner, container: ContainerDep, uow: ReadUowDep) -> CartRead:
    return await service.get_cart(uow=uow, store=container.carts, cache=container.cache, owner=owner)


@router.post("/cart/items", response_model=CartRead)
async def add_item(
    body: CartItemAdd, owner: Owner, request: Request, response: Response, container: ContainerDep, uow: UowDep
) -> CartRead:
    cart = await service.add_item(
        uow=uow,
        store=container.carts,
        cache=container.cache,
        owner=owner,
        offer_id=body.offer_id,
        quantity=body.quantity,
    )
    return _remember(request, response, owner, cart)


@router.patch("/cart/items/{item_id}", response_model=CartRead)
async def update_item(
    item_id: str,
    body: CartItemUpdate,
    owner: Owner,
    request: Request,
    response: Response,
    container: ContainerDep,
    uow: UowDep,
) -> CartRead:
    cart = await service.set_item_quantity(
        uow=uow, store=container.carts, cache=container.cache, owner=owner, item_id=item_id, quantity=body.quantity
    )
    return _remember(request, response, owner, cart)


@router.delete("/cart/items/{item_id}", response_model=CartRead)
async def delete_item(
    item_id: str, owner: Owner, request: Request, response: Response, container: ContainerDep, uow: UowDep
) -> CartRead:
    cart = await service.remove_item(
        uow=uow, store=container.carts, cache=container.cache, owner=owner, item_id=item_id
    )
    return _remember(request, response, owner, cart)


@router.post("/cart/voucher", response_model=CartRead)
async def apply_voucher(
    body: VoucherApply, owner: Owner, request: Request, response: Response, container: ContainerDep, uow: UowDep
) -> CartRead:
    cart = await service.apply_voucher(
        uow=uow, store=container.carts, cache=container.cache, owner=owner, code=body.code
    )
    return _remember(request, response, owner, cart)


@router.delete("/cart/voucher", response_model=CartRead)
async def remove_voucher(
    owner: Owner,
    container: ContainerDep,
    uow: UowDep,
    code: Annotated[str | None, Query(max_length=40, description="one code; without it, every code")] = None,
) -> CartRead:
    return await service.remove_voucher(uow=uow, store=container.carts, cache=container.cache, owner=owner, code=code)
