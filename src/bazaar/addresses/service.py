"""Address book use cases: list, add, change, delete, make default, and resolve one for checkout.

At most one address per buyer is the default (a partial unique index enforces it): making one the
default clears the others in the same transaction; the first address saved becomes the default, and
deleting the default hands it to the newest remaining address.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bazaar.addresses.errors import AddressBookFull, AddressNotFound
from bazaar.addresses.models import SavedAddress
from bazaar.addresses.schemas import ADDRESS_FIELDS, MAX_ADDRESSES, AddressCreate, AddressRead, AddressUpdate
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.errors import Conflict, ValidationFailed
from bazaar.shipping.addresses import ShippingAddress


def _read(row: SavedAddress) -> AddressRead:
    return AddressRead(
        id=row.id,
        label=row.label,
        default=row.is_default,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **{f: getattr(row, f) for f in ADDRESS_FIELDS},
    )


async def _rows(uow: UnitOfWork, user_id: str) -> list[SavedAddress]:
    query = (
        select(SavedAddress)
        .where(SavedAddress.user_id == user_id)
        .order_by(SavedAddress.is_default.desc(), SavedAddress.created_at.desc(), SavedAddress.id.desc())
    )
    return list((await uow.session.execute(query)).scalars())


async def _own(uow: UnitOfWork, user_id: str, address_id: str) -> SavedAddress:
    row = await uow.session.get(SavedAddress, address_id)
    if row is None or row.user_id != user_id:
        raise AddressNotFound(address_id=address_id)
    return row


async def _clear_default(uow: UnitOfWork, user_id: str) -> None:
    await uow.session.execute(
        update(SavedAddress)
        .where(SavedAddress.user_id == user_id, SavedAddress.is_default.is_(True))
        .values(is_default=False)
        .execution_options(synchronize_session=False)
    )
    await uow.flush()


async def _commit(uow: UnitOfWork) -> None:
    try:
        await uow.flush()
        await uow.commit()
    except IntegrityError as exc:  # another request made a different address the default at the same moment
        await uow.rollback()
        raise Conflict("your address book changed at the same time; try again", code="address_book_changed") from exc


async def list_addresses(*, uow: UnitOfWork, user_id: str) -> list[AddressRead]:
    """The buyer's addresses, the default first, then the newest."""
    return [_read(row) for row in await _rows(uow, user_id)]


async def add_address(*, uow: UnitOfWork, user_id: str, data: AddressCreate) -> AddressRead:
    count = (await uow.session.execute(select(func.count()).where(SavedAddress.user_id == user_id))).scalar_one()
    if count >= MAX_ADDRESSES:
        raise AddressBookFull(limit=MAX_ADDRESSES)
    make_default = data.default or count == 0
    if make_default:
        await _clear_default(uow, user_id)
    row = SavedAddress(user_id=user_id, label=data.label, is_default=make_default, **data.address().model_dump())
    uow.session.add(row)
    await _commit(uow)
    return _read(row)


async def update_address(*, uow: UnitOfWork, user_id: str, address_id: str, data: AddressUpdate) -> AddressRead:
    """Change some fields; the whole address must still be valid (422 otherwise, and nothing changes)."""
    row = await _own(uow, user_id, address_id)
    changes = data.model_dump(exclude_unset=True)
    merged = {f: getattr(row, f) for f in ADDRESS_FIELDS} | {k: v for k, v in changes.items() if k in ADDRESS_FIELDS}
    try:
        address = ShippingAddress.model_validate(merged)
    except ValidationError as exc:
        raise ValidationFailed(
            "the address is not valid", errors=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        ) from exc
    if changes.get("default") is True and not row.is_default:
        await _clear_default(uow, user_id)
        row.is_default = True
    for field, value in address.model_dump().items():
        setattr(row, field, value)
    if "label" in changes:
        row.label = (changes["label"] or "").strip() or None
    await _commit(uow)
    return _read(row)


async def delete_address(*, uow: UnitOfWork, user_id: str, address_id: str) -> None:
    row = await _own(uow, user_id, address_id)
    was_default = row.is_default
    await uow.session.delete(row)
    await uow.flush()
    if was_default:
        remaining = await _rows(uow, user_id)
        if remaining:
            remaining[0].is_default = True
    await _commit(uow)


async def shipping_address(*, uow: UnitOfWork, user_id: str, address_id: str) -> ShippingAddress:
    """A saved address as checkout uses it; another buyer's address is not found."""
    return _read(await _own(uow, user_id, address_id)).address()


async def default_address(*, uow: UnitOfWork, user_id: str) -> AddressRead | None:
    rows = await _rows(uow, user_id)
    return _read(rows[0]) if rows and rows[0].is_default else None
