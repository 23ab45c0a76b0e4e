"""Accounts endpoints: register, login, logout, me, become a seller."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from bazaar.accounts import service
from bazaar.accounts.schemas import LoginRequest, LoginResult, SellerCreate, SellerRead, UserCreate, UserRead
from bazaar.cart import service as carts
from bazaar.web.api.deps import ContainerDep, CurrentUser, ReadUowDep, UowDep, client_ip

router = APIRouter(tags=["accounts"])


@router.post("/auth/register", status_code=201, response_model=UserRead)
async def register(body: UserCreate, request: Request, container: ContainerDep, uow: UowDep) -> UserRead:
    limits = container.settings
    await container.limiter.hit("register-ip", client_ip(request), limit=limits.register_limit_per_minute)
    await container.limiter.hit("register-email", body.email.lower(), limit=limits.register_email_limit_per_minute)
    return await service.register_user(
        uow=uow, passwords=container.passwords, email=body.email, password=body.password, name=body.name
    )


@router.post("/auth/login", response_model=LoginResult)
async def login(body: LoginRequest, request: Request, container: ContainerDep, uow: UowDep) -> LoginResult:
    limits = container.settings
    await container.limiter.hit("login-ip", client_ip(request), limit=limits.login_ip_limit_per_minute)
    await container.limiter.hit("login-email", body.email.lower(), limit=limits.login_limit_per_minute)
    result = await service.login(
        uow=uow,
        passwords=container.passwords,
        email=body.email,
        password=body.password,
        token_ttl=timedelta(days=limits.token_ttl_days),
    )
    async with container.uow() as cart_uow:
        result.cart_id = await carts.merge_carts(
            uow=cart_uow,
            store=container.carts,
            cache=container.cache,
            user_id=result.user.id,
            anonymous_cart_id=body.cart_id or request.cookies.get("bazaar_cart"),
        )
    return result


@router.post("/auth/logout", status_code=204)
async def logout(principal: CurrentUser, uow: UowDep, container: ContainerDep) -> Response:
    await service.logout(uow=uow, principal=principal, sessions=container.sessions)
    return Response(status_code=204)


@router.get("/me", response_model=UserRead)
async def me(principal: CurrentUser, uow: ReadUowDep) -> UserRead:
    return await service.get_user(uow=uow, user_id=principal.user_id)


@router.post("/sellers", status_code=201, response_model=SellerRead)
async def create_seller(body: SellerCreate, principal: CurrentUser, uow: UowDep, container: ContainerDep) -> SellerRead:
    return await service.become_seller(
        uow=uow, principal=principal, display_name=body.display_name, sessions=container.sessions
    )
