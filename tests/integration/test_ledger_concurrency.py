"""The ledger's invariants under real concurrency on PostgreSQL: parallel payout runs on their own connections
never pay twice and never take a balance below zero, while sales and refunds are posted at the same time; a
seller's balance always equals the sum of its entries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bazaar.adapters.sandbox_payments.transfers import transfers_total
from bazaar.bootstrap import Container
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ids import new_id
from bazaar.ledger.models import LedgerEntry, Payout, SellerAccount
from bazaar.ledger.payouts import run_payouts
from bazaar.ledger.service import Posting, post

pytestmark = pytest.mark.usefixtures("pg_only")
SELLERS = 6


async def credit(container: Container, seller_id: str, amount: int, *, available: bool = True) -> None:
    async with container.uow() as uow:
        order_id = new_id()
        at = utcnow() - timedelta(days=1) if available else None
        await post(uow, [Posting("seller", seller_id, "sale", amount, f"test:{order_id}", order_id)], currency="USD",
                   available_at=at)  # fmt: skip
        await uow.commit()


async def debit(container: Container, seller_id: str, amount: int) -> None:
    async with container.uow() as uow:
        order_id = new_id()
        await post(uow, [Posting("seller", seller_id, "refund", -amount, f"test:{order_id}", order_id)],
                   currency="USD", available_at=utcnow())  # fmt: skip
        await uow.commit()


async def test_parallel_payout_runs_pay_each_available_cent_once(container: Container) -> None:
    sellers = [new_id() for _ in range(SELLERS)]
    for i, seller_id in enumerate(sellers):
        await credit(container, seller_id, 10_000 + i)
    runs = [run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli") for _ in range(4)]
    # while they run, more sales (not yet available) and refunds arrive on other connections
    traffic = [credit(container, s, 500, available=False) for s in sellers] + [
        debit(container, s, 100) for s in sellers
    ]
    reports = (await asyncio.gather(*runs, *traffic))[:4]
    ledger = container.payment_sandbox.state.ledger
    count, paid = transfers_total(ledger)
    assert count == SELLERS == sum(r.paid for r in reports)  # one payout per seller, whichever run made it
    assert paid == sum(r.amount for r in reports)
    async with container.read_uow() as uow:
        s = uow.session
        payouts = dict(
            (await s.execute(select(Payout.seller_id, func.sum(Payout.amount)).group_by(Payout.seller_id))).all()
        )
        assert set(payouts) == set(sellers)
        entries = dict(
            (
                await s.execute(
                    select(LedgerEntry.seller_id, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.seller_id)
                )
            ).all()
        )
        cached = dict((await s.execute(select(SellerAccount.seller_id, SellerAccount.balance))).all())
        assert cached == entries  # a balance is the sum of its entries
        now = utcnow()
        for seller_id in sellers:
            available = (await s.execute(select(func.sum(LedgerEntry.amount)).where(
                LedgerEntry.seller_id == seller_id, LedgerEntry.available_at <= now))).scalar_one()  # fmt: skip
            # paid what was available when its payout opened: what is left is >= -100 (a refund posted after)
            assert available >= -100
            assert entries[seller_id] == available + 500  # the pending sale is all that remains pending
    # a second round pays nothing twice; refunds that came after leave a small debt, never paid out
    again = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli")
    assert transfers_total(ledger)[1] == paid + again.amount


async def test_parallel_postings_keep_the_cached_balance_equal_to_the_entries(container: Container) -> None:
    seller_id = new_id()
    await asyncio.gather(
        *(credit(container, seller_id, 7) for _ in range(40)), *(debit(container, seller_id, 3) for _ in range(20))
    )
    async with container.read_uow() as uow:
        total = (
            await uow.session.execute(select(func.sum(LedgerEntry.amount)).where(LedgerEntry.seller_id == seller_id))
        ).scalar_one()
        cached = (
            await uow.session.execute(select(SellerAccount.balance).where(SellerAccount.seller_id == seller_id))
        ).scalar_one()
    assert total == cached == 40 * 7 - 20 * 3
