"""FastAPI dependencies: the container, units of work and the authenticated caller, as Annotated aliases."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.convertors import Convertor, register_url_convertor

from bazaar.accounts import service as accounts
from bazaar.accounts.schemas import Principal
from bazaar.bootstrap import Container
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.errors import Forbidden, NotAuthenticated
from bazaar.kernel.text import CleanStr


async def get_container(request: Request) -> Container:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on every request.
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_uow(container: ContainerDep) -> AsyncIterator[UnitOfWork]:
    async with container.uow() as uow:
        yield uow


async def get_read_uow(container: ContainerDep) -> AsyncIterator[UnitOfWork]:
    async with container.read_uow() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]
ReadUowDep = Annotated[UnitOfWork, Depends(get_read_uow)]


async def get_replica_uow(container: ContainerDep) -> AsyncIterator[UnitOfWork]:
    async with container.replica_uow() as uow:
        yield uow


# Reads that tolerate lag (order history, seller lists): a read replica when there is a fresh one; a client
# that has just written reads the primary instead (see bazaar.db.replicas).
ReplicaUowDep = Annotated[UnitOfWork, Depends(get_replica_uow)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get("bazaar_session") or None


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def check_cookie_csrf(request: Request) -> None:
    """The JSON API answers the storefront's session cookie too; a change made with it (no Authorization
    header) must carry the page's CSRF token in `X-CSRF-Token`, as the storefront's own forms do, so another
    site cannot make a logged-in browser cancel an order with a body-less POST (SameSite alone is not enough)."""
    if request.method not in UNSAFE_METHODS or "authorization" in request.headers:
        return
    if not request.url.path.startswith("/api/") or "bazaar_session" not in request.cookies:
        return
    expected = request.cookies.get("bazaar_csrf", "")
    sent = request.headers.get("x-csrf-token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(
            "a change made with the session cookie needs the X-CSRF-Token header (or use a bearer token)",
            code="csrf_failed",
        )


async def optional_principal(request: Request, container: ContainerDep) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    check_cookie_csrf(request)
    return await accounts.authenticate_token(sessions=container.sessions, read_uow=container.read_uow, token=token)


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise NotAuthenticated("log in to do this")
    return principal


async def current_seller(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.seller_id is None:
        raise Forbidden("only sellers can do this; create a seller profile with POST /api/v1/sellers")
    return principal


async def current_admin(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """The marketplace's operator; anyone else (logged in or not) is answered 403 `forbidden`."""
    if principal is None or not principal.has_role("admin"):
        raise Forbidden("only the marketplace's operators can do this")
    return principal


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
CurrentSeller = Annotated[Principal, Depends(current_seller)]
CurrentAdmin = Annotated[Principal, Depends(current_admin)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# An anonymous cart's id, sent by API clients (browsers use the cart cookie); control characters are refused (422)
# as in every other string the API takes.
CartIdHeader = Annotated[
    CleanStr | None, Header(alias="X-Cart-Id", max_length=64, description="the anonymous cart's id")
]


class IdConvertor(Convertor[str]):
    """`{name:id}` in a route path: one of Bazaar's 26-character ids (kernel.ids), so that a literal path beside it
    (`/checkout/quote` beside `/checkout/{checkout_id}`) is not also routed to it as an id."""

    regex = "[0-9A-Za-z]{26}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdConvertor())
