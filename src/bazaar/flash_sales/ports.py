"""The waiting room port: a sale's queue of buyers, admitted first come, first served.

Two adapters pass one contract suite: Redis (`adapters/redis_waiting_room.py`, sorted sets updated by
Lua scripts, so every step is atomic across web processes) and the database (`flash_sales/db_room.py`,
the embedded setup). Both outlive a web process: tickets and positions survive its restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Place:
    ticket_id: str
    buyer_id: str
    seq: int  # join number in the sale (1 = first to join)
    status: str  # waiting | admitted | expired | left
    position: int  # 1-based while waiting (1 = next in), else 0
    admitted_until: datetime | None = None


@dataclass(frozen=True)
class RoomCounts:
    waiting: int
    outstanding: int  # admitted, window still open, not yet used to hold
    admitted: int  # admitted so far
    used: int  # admitted tickets whose buyer held units
    lapsed: int  # admitted tickets whose window closed without a hold


class WaitingRoom(Protocol):
    async def join(
        self, sale_id: str, buyer_id: str, *, now: datetime, keep_seconds: int, arrived: datetime | None = None
    ) -> Place:
        """The buyer's place: their waiting or admitted ticket if they have one, else a new one behind everyone
        whose request reached the server before `arrived` (default `now`)."""
        ...

    async def look(self, sale_id: str, ticket_id: str, *, now: datetime) -> Place | None:
        """The ticket as it stands (a waiting ticket looked at counts as its holder still being there)."""
        ...

    async def leave(self, sale_id: str, ticket_id: str) -> None: ...

    async def admit(
        self, sale_id: str, count: int, *, now: datetime, until: datetime, idle_before: datetime
    ) -> list[Place]:
        """Drop waiting tickets not looked at since `idle_before`, close lapsed admissions, then admit up to
        `count` of the earliest waiting tickets until `until`; answers those admitted, in arrival order."""
        ...

    async def mark_used(self, sale_id: str, ticket_id: str) -> None:
        """The ticket's buyer held units: no longer an outstanding admission."""
        ...

    async def counts(self, sale_id: str, *, now: datetime) -> RoomCounts: ...

    async def close(self) -> None: ...
