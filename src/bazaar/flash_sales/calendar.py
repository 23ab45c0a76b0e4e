"""The per-process flash-sale calendar: sales open now or opening soon, re-read about once a second.

Pages, search results and the hold fast path ask it "is this offer in a sale right now?" without a
query of their own. Windows are known ahead of time, so a sale switches live and ends on the
clock's second in every process; only a sale created or cancelled in the last second may be seen
late. Counters in it (units left) are as of the last read, moved at once by the holds this process makes
(`took`), so a buyer who just held sees their units gone: pages show them, holds never trust them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bazaar.catalog import queries as catalog
from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales import service
from bazaar.flash_sales.models import FlashSale
from bazaar.flash_sales.schemas import SaleStatus
from bazaar.kernel.clock import utcnow

AHEAD = timedelta(days=7)  # upcoming sales shown with a countdown this far ahead


@dataclass(frozen=True)
class SaleEntry:
    id: str
    offer_id: str
    product_id: str
    price_amount: int
    currency: str
    units: int
    units_taken: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    lifecycle: str
    title: str = ""
    units_sold: int = 0

    def status(self, now: datetime | None = None) -> SaleStatus:
        now = now or utcnow()
        if self.lifecycle == "cancelled":
            return "cancelled"
        if now >= self.ends_at:
            return "ended"
        if now < self.starts_at:
            return "scheduled"
        return "sold_out" if self.units_taken >= self.units else "live"

    def is_open(self, now: datetime | None = None) -> bool:
        """The window is open (live or sold out): the offer is sold only through the sale's queue."""
        return self.status(now) in ("live", "sold_out")

    @property
    def units_left(self) -> int:
        return max(0, self.units - self.units_taken)

    @classmethod
    def of(cls, sale: FlashSale, title: str) -> SaleEntry:
        return cls(
            sale.id, sale.offer_id, sale.product_id, sale.price_amount, sale.currency, sale.units,
            sale.units_taken, sale.per_buyer_limit, sale.starts_at, sale.ends_at, sale.status, title, sale.units_sold,
        )  # fmt: skip


class SaleCalendar:
    def __init__(self, read_uow: Callable[[], UnitOfWork], *, refresh_seconds: float = 1.0) -> None:
        self._read_uow = read_uow
        self._refresh_seconds = refresh_seconds
        self._entries: list[SaleEntry] | None = None
        self._by_offer: dict[str, list[SaleEntry]] = {}
        self._by_product: dict[str, list[SaleEntry]] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def _fresh(self) -> None:
        if self._entries is not None and time.monotonic() - self._loaded_at < self._refresh_seconds:
            return
        if self._lock.locked() and self._entries is not None:
            return  # another task is reading: the last snapshot serves meanwhile
        async with self._lock:
            if self._entries is not None and time.monotonic() - self._loaded_at < self._refresh_seconds:
                return
            async with self._read_uow() as uow:
                sales = await service.sales_in_view(uow=uow, ahead=AHEAD)
                offers = await catalog.offer_facts(uow=uow, offer_ids=[s.offer_id for s in sales])
            self._set([SaleEntry.of(s, offers[s.offer_id].title if s.offer_id in offers else "") for s in sales])

    def _set(self, entries: list[SaleEntry], *, loaded_at: float | None = None) -> None:
        by_offer: dict[str, list[SaleEntry]] = {}
        by_product: dict[str, list[SaleEntry]] = {}
        for entry in sorted(entries, key=lambda e: e.starts_at):
            by_offer.setdefault(entry.offer_id, []).append(entry)
            by_product.setdefault(entry.product_id, []).append(entry)
        self._entries, self._by_offer, self._by_product = entries, by_offer, by_product
        self._loaded_at = time.monotonic() if loaded_at is None else loaded_at

    def forget(self) -> None:
        """Read the database again at the next question (after this process changed a sale)."""
        self._loaded_at = 0.0

    def took(self, sale_id: str, quantity: int) -> None:
        """This process held `quantity` units of a sale: its count moves now, not at the next read (re-reading
        after each hold would read once a hold in a rush, where one read a second serves every page). A read
        already under way when the hold committed may not have seen it: its answer stands until the next."""
        if self._entries is None:
            return
        moved = [
            replace(e, units_taken=min(e.units, e.units_taken + quantity)) if e.id == sale_id else e
            for e in self._entries
        ]
        self._set(moved, loaded_at=self._loaded_at)

    async def entry(self, sale_id: str) -> SaleEntry | None:
        """The sale if it is open now or opens soon (None for one long ended, cancelled or unknown)."""
        await self._fresh()
        return next((e for e in self._entries or [] if e.id == sale_id), None)

    async def open_sale_for_offer(self, offer_id: str) -> SaleEntry | None:
        await self._fresh()
        now = utcnow()
        return next((e for e in self._by_offer.get(offer_id, ()) if e.is_open(now)), None)

    async def for_products(self, product_ids: list[str]) -> dict[str, SaleEntry]:
        """Per product, the sale to show: the open one, else the next to open."""
        await self._fresh()
        now = utcnow()
        shown: dict[str, SaleEntry] = {}
        for product_id in product_ids:
            entries = [e for e in self._by_product.get(product_id, ()) if e.status(now) != "ended"]
            if entries:
                shown[product_id] = next((e for e in entries if e.is_open(now)), entries[0])
        return shown

    async def upcoming(self, limit: int = 8) -> list[SaleEntry]:
        """Open sales first, then the next to open."""
        await self._fresh()
        now = utcnow()
        entries = [e for e in self._entries or [] if e.status(now) in ("live", "scheduled")]
        entries.sort(key=lambda e: (not e.is_open(now), e.starts_at))
        return entries[:limit]
