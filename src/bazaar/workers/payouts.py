"""The payouts worker: once per BAZAAR_PAYOUT_INTERVAL_HOURS (daily) it pays every seller's available balance.

The last worker run's start is read from the payout_runs table, so restarts do not pay early; several workers
may run at once (a payout locks its seller's account, see ledger.payouts)."""

from __future__ import annotations

from datetime import timedelta

from bazaar.bootstrap import Container
from bazaar.kernel.clock import aware, utcnow
from bazaar.ledger.payouts import last_run_started, run_payouts


async def run_once(container: Container) -> int:
    interval = timedelta(hours=container.settings.payout_interval_hours)
    async with container.read_uow() as uow:
        last = await last_run_started(uow, "worker")
    if last is not None and aware(last) + interval > utcnow():
        return 0
    await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="worker")
    return 0  # nothing more to do until the next interval
