"""Accounts use cases: register, log in and out, authenticate a bearer token, become a seller."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from bazaar.accounts.errors import AlreadySeller, EmailTaken, InvalidCredentials, InvalidToken
from bazaar.accounts.events import GuestClaimed, SellerCreated, UserRegistered
from bazaar.accounts.models import AuthToken, Seller, User
from bazaar.accounts.passwords import Passwords
from bazaar.accounts.schemas import LoginResult, Principal, SellerRead, UserRead
from bazaar.accounts.sessions import SessionCache
from bazaar.db.driver import Prepared
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import NotFound
from bazaar.kernel.ids import new_secret


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _roles(*, is_admin: bool, is_seller: bool) -> list[str]:
    roles = ["buyer"]
    if is_seller:
        roles.append("seller")
    if is_admin:
        roles.append("admin")
    return roles


def _user_read(user: User | Row[Any, Any, Any, Any, Any, Any, Any], seller_id: str | None) -> UserRead:
    """`user`: the ORM object, or a row of the same columns (`get_user`)."""
    return UserRead(
        id=user.id,
        email=user.email,
        name=user.name,
        roles=_roles(is_admin=bool(user.is_admin), is_seller=seller_id is not None),
        seller_id=seller_id,
        created_at=user.created_at,
        is_guest=bool(user.is_guest),
    )


def _seller_read(seller: Seller) -> SellerRead:
    return SellerRead(
        id=seller.id,
        user_id=seller.user_id,
        display_name=seller.display_name,
        rating=round(seller.rating_average, 2),
        rating_count=seller.rating_count,
        created_at=seller.created_at,
        status=seller.status,
        status_reason=seller.status_reason,
        status_changed_at=seller.status_changed_at,
    )


async def register_user(*, uow: UnitOfWork, passwords: Passwords, email: str, password: str, name: str) -> UserRead:
    """A new account; for an email that checked out as a guest, the guest becomes the account and its
    orders (and checkouts) are the account's from now on."""
    email = email.strip().lower()
    existing = (await uow.session.execute(select(User.id, User.is_guest).where(User.email == email))).first()
    if existing is not None and existing.is_guest:
        return await _claim_guest(uow, existing.id, email, await passwords.hash(password), name)
    if existing is not None:
        raise EmailTaken(email=email)
    user = User(email=email, name=name, password_hash=await passwords.hash(password))
    uow.session.add(user)
    try:
        await uow.flush()
    except IntegrityError as exc:  # a concurrent registration won the unique index
        raise EmailTaken(email=email) from exc
    uow.emit(UserRegistered(id=user.id, email=email))
    await uow.commit()
    return _user_read(user, None)


async def _claim_guest(uow: UnitOfWork, user_id: str, email: str, password_hash: str, name: str) -> UserRead:
    claimed = await uow.session.execute(
        update(User)
        .where(User.id == user_id, User.is_guest.is_(True))  # two registrations at once: one claims, one is refused
        .values(name=name, password_hash=password_hash, is_guest=False)
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        raise EmailTaken(email=email)
    uow.emit(UserRegistered(id=user_id, email=email))
    uow.emit(GuestClaimed(id=user_id, email=email))
    await uow.commit()
    user = (await uow.session.execute(select(User).where(User.id == user_id))).scalar_one()
    await uow.session.refresh(user)
    return _user_read(user, None)


async def guest_buyer(*, uow: UnitOfWork, email: str) -> str:
    """The buyer id a guest checkout orders under: the email's guest (made on first use) or, if the email
    already has an account, that account (whose owner would claim the order on registering anyway)."""
    email = email.strip().lower()
    found = (await uow.session.execute(select(User.id).where(User.email == email))).scalar_one_or_none()
    if found is not None:
        return str(found)
    guest = User(email=email, name="Guest", password_hash="", is_guest=True)
    uow.session.add(guest)
    try:
        await uow.flush()
        await uow.commit()
    except IntegrityError:  # the same email checking out twice at once: the other request made it
        await uow.rollback()
        return str((await uow.session.execute(select(User.id).where(User.email == email))).scalar_one())
    return guest.id


async def login(
    *, uow: UnitOfWork, passwords: Passwords, email: str, password: str, token_ttl: timedelta
) -> LoginResult:
    email = email.strip().lower()
    user = (await uow.session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    stored = user.password_hash if user is not None and not user.is_guest else None  # a guest has no password
    if not await passwords.verify(stored, password) or user is None:
        raise InvalidCredentials()
    token = new_secret()
    uow.session.add(AuthToken(user_id=user.id, token_hash=_hash_token(token), expires_at=utcnow() + token_ttl))
    seller = (await uow.session.execute(select(Seller).where(Seller.user_id == user.id))).scalar_one_or_none()
    await uow.commit()
    return LoginResult(token=token, user=_user_read(user, seller.id if seller else None))


async def logout(*, uow: UnitOfWork, principal: Principal, sessions: SessionCache | None = None) -> None:
    revoked = await uow.session.execute(
        update(AuthToken)
        .where(AuthToken.id == principal.token_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(AuthToken.token_hash)
    )
    _forget_after_commit(uow, sessions, list(revoked.scalars()))
    await uow.commit()


def _forget_after_commit(uow: UnitOfWork, sessions: SessionCache | None, token_hashes: list[str]) -> None:
    if sessions is None or not sessions.enabled or not token_hashes:
        return

    async def forget() -> None:
        await sessions.forget(token_hashes)

    uow.after_commit(forget)


_TOKENS, _USERS, _SELLERS = (cast(Table, model.__table__) for model in (AuthToken, User, Seller))
_BY_TOKEN = Prepared(
    select(
        _TOKENS.c.id,
        _TOKENS.c.revoked_at,
        _TOKENS.c.expires_at,
        _USERS.c.id,
        _USERS.c.email,
        _USERS.c.name,
        _USERS.c.is_admin,
        _USERS.c.created_at,
        _SELLERS.c.id,
    )
    .select_from(
        _TOKENS.join(_USERS, _USERS.c.id == _TOKENS.c.user_id).outerjoin(_SELLERS, _SELLERS.c.user_id == _USERS.c.id)
    )
    .where(_TOKENS.c.token_hash == bindparam("hashed"))
)  # built once: every request whose token is not in the session cache runs it


async def _lookup(uow: UnitOfWork, token_hash: str) -> tuple[Principal, datetime]:
    row = (await uow.fetch(_BY_TOKEN, {"hashed": token_hash})).first()
    if row is None:
        raise InvalidToken()
    token_id, revoked_at, expires_at, user_id, email, name, is_admin, created_at, seller_id = row
    if revoked_at is not None or expires_at <= utcnow():
        raise InvalidToken()
    principal = Principal(
        user_id=user_id,
        email=email,
        name=name,
        roles=_roles(is_admin=bool(is_admin), is_seller=seller_id is not None),
        seller_id=seller_id,
        token_id=token_id,
        created_at=created_at,
    )
    return principal, expires_at


async def authenticate(*, uow: UnitOfWork, token: str) -> Principal:
    """Resolve a bearer token to its user; roles are read now, not when the token was issued."""
    principal, _ = await _lookup(uow, _hash_token(token))
    return principal


async def authenticate_token(*, sessions: SessionCache, read_uow: Callable[[], UnitOfWork], token: str) -> Principal:
    """`authenticate`, answered from the shared session cache when it has the token (see accounts.sessions)."""
    token_hash = _hash_token(token)
    cached = await sessions.get(token_hash)
    if cached is not None:
        return cached
    async with read_uow() as uow:
        principal, expires_at = await _lookup(uow, token_hash)
    await sessions.put(token_hash, principal, expires_at=expires_at)
    return principal


_USER = Prepared(
    select(
        _USERS.c.id,
        _USERS.c.email,
        _USERS.c.name,
        _USERS.c.is_admin,
        _USERS.c.created_at,
        _USERS.c.is_guest,
        _SELLERS.c.id.label("seller_id"),
    )
    .select_from(_USERS.outerjoin(_SELLERS, _SELLERS.c.user_id == _USERS.c.id))
    .where(_USERS.c.id == bindparam("user"))
)  # built once: every order's email reads its buyer


async def get_user(*, uow: UnitOfWork, user_id: str) -> UserRead:
    row = (await uow.fetch(_USER, {"user": user_id})).first()
    if row is None:
        raise NotFound("user not found")
    return _user_read(row, row.seller_id)


async def become_seller(
    *, uow: UnitOfWork, principal: Principal, display_name: str, sessions: SessionCache | None = None
) -> SellerRead:
    if (await uow.session.execute(select(Seller.id).where(Seller.user_id == principal.user_id))).first():
        raise AlreadySeller()
    seller = Seller(user_id=principal.user_id, display_name=display_name)
    uow.session.add(seller)
    try:
        await uow.flush()
    except IntegrityError as exc:
        raise AlreadySeller() from exc
    uow.emit(SellerCreated(id=seller.id, user_id=principal.user_id, display_name=display_name))
    tokens = await uow.session.execute(select(AuthToken.token_hash).where(AuthToken.user_id == principal.user_id))
    _forget_after_commit(uow, sessions, list(tokens.scalars()))  # their remembered roles are out of date
    await uow.commit()
    return _seller_read(seller)
