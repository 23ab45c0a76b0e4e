"""The waiting room in the database (the embedded setup, no Redis): a row per buyer and sale.

Arrival order comes from the sale row's counter (`queue_seq + 1`, an UPDATE that serialises joins);
a buyer's row is reused when they join again after leaving or timing out, behind everyone waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError

from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales.models import FlashSale, QueueTicket
from bazaar.flash_sales.ports import Place, RoomCounts
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ids import new_id


def _place(t: QueueTicket, position: int = 0) -> Place:
    return Place(t.id, t.buyer_id, t.seq, t.status, position if t.status == "waiting" else 0, t.admitted_until)


class DatabaseWaitingRoom:
    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def _position(self, uow: UnitOfWork, t: QueueTicket) -> int:
        if t.status != "waiting":
            return 0
        ahead = await uow.session.scalar(
            select(func.count()).where(
                QueueTicket.sale_id == t.sale_id, QueueTicket.status == "waiting", QueueTicket.seq <= t.seq
            )
        )
        return int(ahead or 0)

    async def join(
        self, sale_id: str, buyer_id: str, *, now: datetime, keep_seconds: int, arrived: datetime | None = None
    ) -> Place:
        """Ordered by the join's turn on the sale row (embedded: one process, short waits)."""
        try:
            return await self._join(sale_id, buyer_id, now=now)
        except IntegrityError:  # the same buyer joined from another device at the same instant: take that place
            return await self._join(sale_id, buyer_id, now=now)

    async def _join(self, sale_id: str, buyer_id: str, *, now: datetime) -> Place:
        async with self._uow() as uow:
            if uow.is_postgres:  # joins of one sale take turns on its row: one arrival order, one ticket per buyer
                await uow.session.execute(select(FlashSale.id).where(FlashSale.id == sale_id).with_for_update())
            mine = await uow.session.scalar(
                select(QueueTicket).where(QueueTicket.sale_id == sale_id, QueueTicket.buyer_id == buyer_id)
            )
            open_admission = mine is not None and mine.status == "admitted" and (mine.admitted_until or now) > now
            if mine is not None and (mine.status == "waiting" or open_admission):
                mine.seen_at = now
                await uow.commit()
                return _place(mine, await self._position(uow, mine))
            seq = (
                await uow.session.execute(
                    update(FlashSale)
                    .where(FlashSale.id == sale_id)
                    .values(queue_seq=FlashSale.queue_seq + 1)
                    .returning(FlashSale.queue_seq)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one()
            if mine is None:
                mine = QueueTicket(sale_id=sale_id, buyer_id=buyer_id, seq=seq, status="waiting", seen_at=now)
                uow.session.add(mine)
            else:  # back in line, behind everyone waiting, under a new ticket
                mine.id, mine.seq, mine.status, mine.seen_at, mine.joined_at = new_id(), seq, "waiting", now, now
                mine.admitted_at = mine.admitted_until = mine.used_at = None
            await uow.commit()
            return _place(mine, await self._position(uow, mine))

    async def look(self, sale_id: str, ticket_id: str, *, now: datetime) -> Place | None:
        async with self._uow() as uow:
            t = await uow.session.scalar(
                select(QueueTicket).where(QueueTicket.id == ticket_id, QueueTicket.sale_id == sale_id)
            )
            if t is None:
                return None
            if t.status == "waiting":
                t.seen_at = now
            elif t.status == "admitted" and t.admitted_until is not None and t.admitted_until <= now:
                t.status = "expired"
            await uow.commit()
            return _place(t, await self._position(uow, t))

    async def leave(self, sale_id: str, ticket_id: str) -> None:
        async with self._uow() as uow:
            await uow.session.execute(
                update(QueueTicket)
                .where(
                    QueueTicket.id == ticket_id,
                    QueueTicket.sale_id == sale_id,
                    QueueTicket.status.in_(("waiting", "admitted")),
                )
                .values(status="left")
            )
            await uow.commit()

    async def admit(
        self, sale_id: str, count: int, *, now: datetime, until: datetime, idle_before: datetime
    ) -> list[Place]:
        async with self._uow() as uow:
            mine = and_(QueueTicket.sale_id == sale_id)
            await uow.session.execute(
                update(QueueTicket)
                .where(mine, QueueTicket.status == "waiting", QueueTicket.seen_at < idle_before)
                .values(status="expired")
            )
            await uow.session.execute(
                update(QueueTicket)
                .where(mine, QueueTicket.status == "admitted", QueueTicket.admitted_until <= now)
                .values(status="expired")
            )
            admitted: list[Place] = []
            if count > 0:
                query = (
                    select(QueueTicket)
                    .where(mine, QueueTicket.status == "waiting")
                    .order_by(QueueTicket.seq)
                    .limit(count)
                )
                if uow.is_postgres:
                    query = query.with_for_update(skip_locked=True)
                for t in (await uow.session.execute(query)).scalars():
                    t.status, t.admitted_at, t.admitted_until = "admitted", now, until
                    admitted.append(_place(t))
            await uow.commit()
            return admitted

    async def mark_used(self, sale_id: str, ticket_id: str) -> None:
        async with self._uow() as uow:
            await uow.session.execute(
                update(QueueTicket)
                .where(QueueTicket.id == ticket_id, QueueTicket.sale_id == sale_id, QueueTicket.used_at.is_(None))
                .values(used_at=utcnow())
            )
            await uow.commit()

    async def counts(self, sale_id: str, *, now: datetime) -> RoomCounts:
        t = QueueTicket
        ever_admitted = t.admitted_at.is_not(None)
        row = await self._read(
            select(
                func.count().filter(t.status == "waiting"),
                func.count().filter(t.status == "admitted", t.admitted_until > now, t.used_at.is_(None)),
                func.count().filter(ever_admitted),
                func.count().filter(t.used_at.is_not(None)),
                func.sum(case((and_(ever_admitted, t.used_at.is_(None), t.admitted_until <= now), 1), else_=0)),
            ).where(t.sale_id == sale_id)
        )
        waiting, outstanding, admitted, used, lapsed = (int(v or 0) for v in row)  # type: ignore[call-overload]
        return RoomCounts(waiting, outstanding, admitted, used, lapsed)

    async def _read(self, query: object) -> tuple[object, ...]:
        async with self._uow() as uow:
            return tuple((await uow.session.execute(query)).one())  # type: ignore[call-overload]

    async def close(self) -> None:
        return None
