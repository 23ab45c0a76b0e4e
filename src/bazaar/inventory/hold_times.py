"""Adaptive hold durations: how long buyers really take from a hold to the purchase, and each hold's TTL from it.

Per offer (and over all offers) we measure, over the last `WINDOW`, the reservation→purchase
conversion (committed / holds that ended), the expiry rate (expired / ended) and the time to purchase
(a committed hold's `updated_at - created_at`). A new hold lasts the 95th percentile of that time,
times 1.25, plus 30 s (`adaptive_ttl`), within `BAZAAR_RESERVATION_TTL_MIN_SECONDS` ..
`BAZAAR_RESERVATION_TTL_SECONDS`; an offer with fewer than `MIN_SAMPLES` purchases uses the overall
figure, and with no history at all the maximum. A flash sale caps it further
(`BAZAAR_FLASH_HOLD_TTL_SECONDS`): unbought units return fast. Each process keeps a snapshot,
re-read every `REFRESH_SECONDS`, so taking a hold never waits for the measurement.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, null, select

from bazaar.catalog.models import Offer
from bazaar.db.uow import UnitOfWork
from bazaar.inventory import metrics
from bazaar.inventory.models import Reservation
from bazaar.inventory.schemas import HoldFiguresRead, HoldFiguresReport
from bazaar.kernel.clock import aware, utcnow

WINDOW = timedelta(days=7)
SAMPLE_LIMIT = 20_000  # most recent purchases measured
MIN_SAMPLES = 20
PERCENTILE = 0.95
MARGIN_FACTOR = 1.25
MARGIN_SECONDS = 30
REFRESH_SECONDS = 30.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between closest ranks (values need not be sorted)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def adaptive_ttl(samples: Sequence[float], *, floor: int, ceiling: int) -> int:
    """Seconds a new hold lasts, from times to purchase: the high percentile with a margin, within the bounds."""
    if len(samples) < MIN_SAMPLES:
        return ceiling
    wanted = math.ceil(percentile(samples, PERCENTILE) * MARGIN_FACTOR + MARGIN_SECONDS)
    return max(floor, min(ceiling, wanted))


@dataclass(frozen=True)
class HoldPolicy:
    floor: int  # BAZAAR_RESERVATION_TTL_MIN_SECONDS
    ceiling: int  # BAZAAR_RESERVATION_TTL_SECONDS
    adaptive: bool = True


@dataclass
class HoldFigures:
    """Holds of one offer (or all offers) over the window: what became of them and how long purchases took."""

    offer_id: str | None
    seller_id: str | None = None
    made: int = 0
    committed: int = 0
    released: int = 0
    expired: int = 0
    purchase_seconds: list[float] = field(default_factory=list, repr=False)
    ttl_seconds: int = 0

    @property
    def ended(self) -> int:
        return self.committed + self.released + self.expired

    @property
    def conversion_rate(self) -> float | None:
        return round(self.committed / self.ended, 4) if self.ended else None

    @property
    def expiry_rate(self) -> float | None:
        return round(self.expired / self.ended, 4) if self.ended else None

    def time_to_purchase(self, q: float) -> float | None:
        return round(percentile(self.purchase_seconds, q), 1) if self.purchase_seconds else None


async def measure(
    *, uow: UnitOfWork, policy: HoldPolicy, seller_id: str | None = None, offer_counts: bool = True
) -> tuple[HoldFigures, dict[str, HoldFigures]]:
    """Overall and per-offer figures over the window (one seller's offers only, if given), with each TTL.

    Without `offer_counts` (the TTL snapshot every process refreshes), holds are counted over all offers only,
    and the per-offer figures are those of offers with purchases: a catalog of many offers held once or twice
    then costs one row per status, not one per offer and status.
    """
    since = utcnow() - WINDOW
    scope = [Reservation.created_at >= since]
    if seller_id is not None:
        scope.append(Reservation.offer_id.in_(select(Offer.id).where(Offer.seller_id == seller_id)))
    overall = HoldFigures(offer_id=None, seller_id=seller_id)
    per_offer: dict[str, HoldFigures] = {}
    if offer_counts:
        counts = await uow.session.execute(
            select(Reservation.offer_id, Offer.seller_id, Reservation.status, func.count())
            .join(Offer, Offer.id == Reservation.offer_id)
            .where(*scope)
            .group_by(Reservation.offer_id, Offer.seller_id, Reservation.status)
        )
    else:
        counts = await uow.session.execute(
            select(null(), null(), Reservation.status, func.count()).where(*scope).group_by(Reservation.status)
        )
    for offer_id, owner, status, n in counts:
        counted = [overall]
        if offer_id is not None:
            counted.append(per_offer.setdefault(offer_id, HoldFigures(offer_id=offer_id, seller_id=owner)))
        for f in counted:
            f.made += int(n)
            if status in ("committed", "released", "expired"):
                setattr(f, status, getattr(f, status) + int(n))
    bought = await uow.session.execute(
        select(Reservation.offer_id, Reservation.created_at, Reservation.updated_at)
        .where(*scope, Reservation.status == "committed")
        .order_by(Reservation.updated_at.desc())
        .limit(SAMPLE_LIMIT)
    )
    for offer_id, created, committed in bought:
        seconds = max(0.0, (aware(committed) - aware(created)).total_seconds())
        overall.purchase_seconds.append(seconds)
        if offer_id in per_offer or not offer_counts:
            per_offer.setdefault(offer_id, HoldFigures(offer_id=offer_id)).purchase_seconds.append(seconds)
    overall.ttl_seconds = _ttl(overall.purchase_seconds, policy)
    # An offer with too few purchases of its own takes the overall TTL, computed once: working it out again per
    # offer sorted up to SAMPLE_LIMIT times per offer, and with tens of thousands of offers held in the window
    # that stalled each web process's event loop for over 20 s every refresh (the soak's 24 s maximums).
    for f in per_offer.values():
        f.ttl_seconds = (
            _ttl(f.purchase_seconds, policy) if len(f.purchase_seconds) >= MIN_SAMPLES else overall.ttl_seconds
        )
    return overall, per_offer


def _ttl(samples: Sequence[float], policy: HoldPolicy) -> int:
    if not policy.adaptive:
        return policy.ceiling
    return adaptive_ttl(samples, floor=policy.floor, ceiling=policy.ceiling)


class HoldDurations:
    """The per-process snapshot of hold TTLs: `ttl(offer_ids)` answers at once, refreshing in the background."""

    def __init__(self, read_uow: Callable[[], UnitOfWork], policy: HoldPolicy) -> None:
        self._read_uow = read_uow
        self.policy = policy
        self._overall = policy.ceiling
        self._by_offer: dict[str, int] = {}
        self._loaded_at = -math.inf
        self._refreshing: asyncio.Task[None] | None = None

    async def refresh(self) -> HoldFigures:
        async with self._read_uow() as uow:
            overall, per_offer = await measure(uow=uow, policy=self.policy, offer_counts=False)
        self._overall = overall.ttl_seconds
        self._by_offer = {o: f.ttl_seconds for o, f in per_offer.items() if len(f.purchase_seconds) >= MIN_SAMPLES}
        self._loaded_at = time.monotonic()
        metrics.observe_hold_figures(
            ttl_seconds=overall.ttl_seconds,
            conversion=overall.conversion_rate,
            expiry=overall.expiry_rate,
            p50=overall.time_to_purchase(0.5),
            p95=overall.time_to_purchase(PERCENTILE),
        )
        return overall

    def _refresh_soon(self) -> None:
        if not self.policy.adaptive or time.monotonic() - self._loaded_at < REFRESH_SECONDS:
            return
        if self._refreshing is None or self._refreshing.done():
            self._loaded_at = time.monotonic()  # one refresh per period, even if it fails
            self._refreshing = asyncio.ensure_future(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception:  # a failed measurement keeps the last TTLs: holds go on
            return

    def ttl(self, offer_ids: Sequence[str], *, cap: int | None = None) -> timedelta:
        """How long a new hold of these offers lasts (the longest of theirs; `cap` shortens it, e.g. in a sale)."""
        self._refresh_soon()
        seconds = max((self._by_offer.get(o, self._overall) for o in offer_ids), default=self._overall)
        if cap is not None:
            seconds = min(seconds, max(cap, 1))
        return timedelta(seconds=seconds)


def figures_read(f: HoldFigures) -> dict[str, object]:
    """Figures as the API, the seller's page and the operator's dashboard show them."""
    return {
        "offer_id": f.offer_id,
        "holds": f.made,
        "purchased": f.committed,
        "released": f.released,
        "expired": f.expired,
        "conversion_rate": f.conversion_rate,
        "expiry_rate": f.expiry_rate,
        "time_to_purchase_p50_seconds": f.time_to_purchase(0.5),
        "time_to_purchase_p95_seconds": f.time_to_purchase(PERCENTILE),
        "hold_ttl_seconds": f.ttl_seconds,
    }


async def hold_report(
    *, uow: UnitOfWork, policy: HoldPolicy, seller_id: str | None = None, top: int = 50
) -> HoldFiguresReport:
    """The figures for a seller's offers (or the whole marketplace), busiest offers first."""
    overall, per_offer = await measure(uow=uow, policy=policy, seller_id=seller_id)
    busiest = sorted(per_offer.values(), key=lambda f: (-f.made, f.offer_id or ""))[:top]
    return HoldFiguresReport(
        overall=HoldFiguresRead(**figures_read(overall)),
        offers=[HoldFiguresRead(**figures_read(f)) for f in busiest],
    )
