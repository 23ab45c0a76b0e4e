"""Payouts: pay each seller's available balance through the payment provider.

A payout is opened in one transaction that locks the seller's account row (PostgreSQL `FOR UPDATE`; SQLite's
writer lock serialises anyway), reads the available balance from the entries, and writes the payout with its
`payout` entry (−amount) — so two runs at once find the money already taken and never pay it twice, and a
payout never takes the balance below zero. The provider is called afterwards, with no transaction open, under
the key `payout:<id>`: a retried or concurrent call transfers once. A refusal (closed account) fails the payout
and a reversing entry gives the money back; an unknown outcome stays `pending` and the next run asks the
provider by key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from bazaar.accounts import standing
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DependencyUnavailable
from bazaar.kernel.ids import new_id
from bazaar.kernel.money import Money
from bazaar.kernel.payments import PaymentOutcomeUnknown, ProviderResult, ProviderUnavailable
from bazaar.kernel.ports import PaymentGateway
from bazaar.ledger.events import PayoutFailed, PayoutSent
from bazaar.ledger.models import LedgerEntry, Payout, PayoutRun, SellerAccount
from bazaar.ledger.service import Posting, ensure_account, is_available, post

log = logging.getLogger("bazaar.ledger.payouts")
UowFactory = Callable[[], UnitOfWork]


@dataclass
class RunReport:
    run_id: str
    paid: int = 0
    failed: int = 0
    pending: int = 0
    amount: int = 0


def payout_key(payout_id: str) -> str:
    return f"payout:{payout_id}"


async def sellers_with_available(uow: UnitOfWork, now: datetime) -> list[str]:
    rows = await uow.session.execute(
        select(LedgerEntry.seller_id)
        .where(LedgerEntry.account == "seller", is_available(now))
        .group_by(LedgerEntry.seller_id)
        .having(func.sum(LedgerEntry.amount) > 0)
        .order_by(LedgerEntry.seller_id)
    )
    return [str(s) for s in rows.scalars()]


async def open_payout(*, uow: UnitOfWork, seller_id: str, run_id: str | None, now: datetime) -> Payout | None:
    """Take the seller's whole available balance into a pending payout, or None if there is nothing to pay (or
    the seller is suspended: its money is held until it is reinstated)."""
    if await standing.is_suspended(uow=uow, seller_id=seller_id):
        await uow.rollback()
        return None
    await ensure_account(uow, seller_id)
    lock = select(SellerAccount).where(SellerAccount.seller_id == seller_id)
    account = (await uow.session.execute(lock.with_for_update() if uow.is_postgres else lock)).scalar_one()
    available = (
        await uow.session.execute(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account == "seller", LedgerEntry.seller_id == seller_id, is_available(now)
            )
        )
    ).scalar_one()
    if int(available) <= 0:
        await uow.rollback()
        return None
    payout = Payout(
        id=new_id(), seller_id=seller_id, amount=int(available), currency=account.currency,
        destination=account.payout_destination, status="pending", run_id=run_id, created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(payout)
    await uow.flush()
    entry = Posting("seller", seller_id, "payout", -payout.amount, f"payout:{payout.id}", payout_id=payout.id)
    await post(uow, [entry], currency=payout.currency, available_at=now)
    await uow.commit()
    return payout


async def send_payout(*, uow_factory: UowFactory, gateway: PaymentGateway, payout: Payout) -> str:
    """Ask the provider to transfer a pending payout (again, under its key); answers its status afterwards."""
    try:
        result = await gateway.transfer(
            idempotency_key=payout_key(payout.id),
            destination=payout.destination,
            amount=Money(payout.amount, payout.currency),
        )
    except PaymentOutcomeUnknown:
        return "pending"  # the provider may have paid: the next run asks it by key
    except ProviderUnavailable as exc:
        async with uow_factory() as uow:
            return await settle_payout(uow=uow, payout_id=payout.id, paid=False, reason=exc.code)
    async with uow_factory() as uow:
        return await settle_payout(
            uow=uow, payout_id=payout.id, paid=result.approved, reason=result.error_code or result.status.value,
            reference=result.reference,
        )  # fmt: skip


async def settle_payout(
    *, uow: UnitOfWork, payout_id: str, paid: bool, reason: str | None = None, reference: str | None = None
) -> str:
    """Close a pending payout once: paid, or failed with a reversing entry that makes the money available again."""
    status = "paid" if paid else "failed"
    closed = await uow.session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.status == "pending")
        .values(status=status, provider_reference=reference, failure_code=None if paid else reason, updated_at=utcnow())
    )
    payout = await uow.session.get_one(Payout, payout_id, populate_existing=True)
    if not closed.rowcount:  # type: ignore[attr-defined]
        return payout.status
    if paid:
        uow.emit(PayoutSent(payout.id, payout.seller_id, payout.amount, payout.currency, payout.destination))
    else:
        back = Posting("seller", payout.seller_id, "payout", payout.amount, f"payout:{payout.id}:reversal",
                       payout_id=payout.id)  # fmt: skip
        await post(uow, [back], currency=payout.currency, available_at=payout.created_at)  # as the payout was
        uow.emit(PayoutFailed(payout.id, payout.seller_id, payout.amount, payout.currency, reason or "failed"))
    await uow.commit()
    return status


async def _resume_pending(uow_factory: UowFactory, gateway: PaymentGateway, report: RunReport) -> None:
    """Payouts whose transfer answer was lost: ask the provider by key, then settle (or send, if never made)."""
    async with uow_factory() as uow:
        stuck = list((await uow.session.execute(select(Payout).where(Payout.status == "pending"))).scalars())
    for payout in stuck:
        try:
            found: ProviderResult | None = await gateway.lookup(idempotency_key=payout_key(payout.id))
        except DependencyUnavailable:
            report.pending += 1
            continue
        if found is None:
            status = await send_payout(uow_factory=uow_factory, gateway=gateway, payout=payout)
        else:
            async with uow_factory() as uow:
                status = await settle_payout(
                    uow=uow, payout_id=payout.id, paid=found.approved, reason=found.error_code,
                    reference=found.reference,
                )  # fmt: skip
        _count(report, status, payout.amount)


def _count(report: RunReport, status: str, amount: int) -> None:
    if status == "paid":
        report.paid += 1
        report.amount += amount
    elif status == "failed":
        report.failed += 1
    else:
        report.pending += 1


async def run_payouts(
    *, uow_factory: UowFactory, gateway: PaymentGateway, trigger: str, now: datetime | None = None
) -> RunReport:
    """Pay every seller's available balance; safe to run in several processes at once."""
    now = now or utcnow()
    async with uow_factory() as uow:
        run = PayoutRun(id=new_id(), trigger=trigger, started_at=now)
        uow.session.add(run)
        await uow.commit()
    report = RunReport(run.id)
    await _resume_pending(uow_factory, gateway, report)
    async with uow_factory() as uow:
        sellers = await sellers_with_available(uow, now)
    for seller_id in sellers:
        async with uow_factory() as uow:
            payout = await open_payout(uow=uow, seller_id=seller_id, run_id=run.id, now=now)
        if payout is not None:
            _count(report, await send_payout(uow_factory=uow_factory, gateway=gateway, payout=payout), payout.amount)
    async with uow_factory() as uow:
        await uow.session.execute(
            update(PayoutRun)
            .where(PayoutRun.id == run.id)
            .values(finished_at=utcnow(), paid=report.paid, failed=report.failed, amount=report.amount)
        )
        await uow.commit()
    log.info("payout run %s: %d paid (%d), %d failed, %d pending", run.id, report.paid, report.amount,
             report.failed, report.pending)  # fmt: skip
    return report


async def last_run_started(uow: UnitOfWork, trigger: str) -> datetime | None:
    found = await uow.session.execute(select(func.max(PayoutRun.started_at)).where(PayoutRun.trigger == trigger))
    value = found.scalar_one_or_none()
    return value
