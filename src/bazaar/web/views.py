"""Recently viewed products: a logged-in buyer's product page views, remembered after the page is answered.

A view is written at most once a minute per buyer and product (a cache key decides), so a buyer
reloading a page or a client polling it costs one cache call, not a database write. Remembering never
fails a page: any error is logged and dropped.
"""

from __future__ import annotations

import logging

from bazaar.accounts import service as accounts
from bazaar.accounts.schemas import Principal
from bazaar.bootstrap import Container
from bazaar.kernel.errors import DomainError
from bazaar.wishlists import service as wishlists

log = logging.getLogger("bazaar.web")
VIEW_THROTTLE_SECONDS = 60


async def remember_view(container: Container, principal: Principal, product_id: str) -> None:
    try:
        key = f"rv:{principal.user_id}:{product_id}"
        if not await container.cache.add(key, b"1", VIEW_THROTTLE_SECONDS):
            return
        async with container.uow() as uow:
            await wishlists.record_view(uow=uow, user_id=principal.user_id, product_id=product_id)
    except Exception:
        log.warning("could not remember a product view", exc_info=True)


async def remember_view_by_token(container: Container, token: str, product_id: str) -> None:
    """The API's product page: the caller is known only by its bearer token (or session cookie)."""
    try:
        principal = await accounts.authenticate_token(
            sessions=container.sessions, read_uow=container.read_uow, token=token
        )
    except DomainError:
        return  # a stale token reads the page like anyone else
    except Exception:
        log.warning("could not authenticate a product view", exc_info=True)
        return
    await remember_view(container, principal, product_id)
