"""A seller's standing with the marketplace (active or suspended) and the operator role."""

from __future__ import annotations

from sqlalchemy import func, select, update

from bazaar.accounts.errors import SellerNotFound, SellerSuspended, UserNotFound
from bazaar.accounts.events import SellerReinstated
from bazaar.accounts.events import SellerSuspended as SellerSuspendedEvent
from bazaar.accounts.models import AuthToken, Seller, User
from bazaar.accounts.schemas import SellerRead
from bazaar.accounts.service import _forget_after_commit, _seller_read
from bazaar.accounts.sessions import SessionCache
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow


async def ensure_seller_active(*, uow: UnitOfWork, seller_id: str) -> None:
    """Raise SellerSuspended (403 `seller_suspended`) unless the seller may list and change offers."""
    status = (await uow.session.execute(select(Seller.status).where(Seller.id == seller_id))).scalar_one_or_none()
    if status is None:
        raise SellerNotFound(seller_id=seller_id)
    if status != "active":
        raise SellerSuspended(seller_id=seller_id)


async def is_suspended(*, uow: UnitOfWork, seller_id: str) -> bool:
    status = (await uow.session.execute(select(Seller.status).where(Seller.id == seller_id))).scalar_one_or_none()
    return status == "suspended"


async def seller_user(*, uow: UnitOfWork, seller_id: str) -> tuple[str, str]:
    """(user id, email) of the seller's account."""
    row = (
        await uow.session.execute(
            select(User.id, User.email).join(Seller, Seller.user_id == User.id).where(Seller.id == seller_id)
        )
    ).first()
    if row is None:
        raise SellerNotFound(seller_id=seller_id)
    return str(row.id), str(row.email)


async def get_seller(*, uow: UnitOfWork, seller_id: str) -> SellerRead:
    seller = await uow.session.get(Seller, seller_id)
    if seller is None:
        raise SellerNotFound(seller_id=seller_id)
    return _seller_read(seller)


async def set_seller_status(*, uow: UnitOfWork, seller_id: str, suspended: bool, reason: str | None) -> bool:
    """Suspend or reinstate in the caller's transaction; answers whether the status changed (repeats are no-ops)."""
    current, target = ("active", "suspended") if suspended else ("suspended", "active")
    changed = await uow.session.execute(
        update(Seller)
        .where(Seller.id == seller_id, Seller.status == current)
        .values(status=target, status_reason=reason, status_changed_at=utcnow())
        .returning(Seller.user_id)
        .execution_options(synchronize_session=False)
    )
    user_id = changed.scalar_one_or_none()
    if user_id is None:
        await get_seller(uow=uow, seller_id=seller_id)  # 404 for an unknown seller; else it already was
        return False
    if suspended:
        uow.emit(SellerSuspendedEvent(id=seller_id, user_id=user_id, reason=reason or ""))
    else:
        uow.emit(SellerReinstated(id=seller_id, user_id=user_id))
    return True


async def list_sellers(
    *, uow: UnitOfWork, status: str | None, page: int, per_page: int
) -> tuple[list[SellerRead], int]:
    query = select(Seller)
    count = select(func.count()).select_from(Seller)
    if status:
        query, count = query.where(Seller.status == status), count.where(Seller.status == status)
    total = int((await uow.session.execute(count)).scalar_one())
    rows = await uow.session.execute(
        query.order_by(Seller.display_name, Seller.id).offset((page - 1) * per_page).limit(per_page)
    )
    return [_seller_read(s) for s in rows.scalars()], total


async def grant_admin(*, uow: UnitOfWork, email: str, sessions: SessionCache | None = None) -> str:
    """Give the account the operator role; answers its user id. Idempotent."""
    email = email.strip().lower()
    user_id = (
        await uow.session.execute(select(User.id).where(User.email == email, User.is_guest.is_(False)))
    ).scalar_one_or_none()
    if user_id is None:
        raise UserNotFound(email=email)
    await uow.session.execute(update(User).where(User.id == user_id).values(is_admin=True))
    tokens = await uow.session.execute(select(AuthToken.token_hash).where(AuthToken.user_id == user_id))
    _forget_after_commit(uow, sessions, list(tokens.scalars()))  # remembered roles are out of date
    await uow.commit()
    return str(user_id)


async def users_by_id(*, uow: UnitOfWork, user_ids: list[str]) -> dict[str, tuple[str, str, bool]]:
    """user id -> (email, name, is_guest), for the operator's lists."""
    if not user_ids:
        return {}
    rows = await uow.session.execute(
        select(User.id, User.email, User.name, User.is_guest).where(User.id.in_(sorted(set(user_ids))))
    )
    return {r.id: (r.email, r.name, bool(r.is_guest)) for r in rows}


async def user_id_by_email(*, uow: UnitOfWork, email: str) -> str | None:
    found = await uow.session.execute(select(User.id).where(User.email == email.strip().lower()))
    return found.scalar_one_or_none()
