"""Payout runs: payouts/s and CPU per payout, one run and two runs at once, against a baseline in the same run.

Gives N sellers an available balance (one released sale entry each), then pays them through the in-process
sandbox provider (its transfers book is a SQLite file): first one run alone, then — on fresh balances — two
runs at the same time (they lock each seller's account row; every seller must be paid exactly once). The
baseline is a run with nothing to pay (the scan), and posting the N entries. CPU is this process's
(time.process_time: the runs and the in-process provider). The database is SQLite in a temporary dir unless
BAZAAR_DATABASE_URL is set (a PostgreSQL URL: the database is used as it is; use a scratch one).

    .venv/bin/python bench/payouts.py --sellers 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bazaar.adapters.sandbox_payments.transfers import transfers_total
from bazaar.bootstrap import Container, build_container
from bazaar.db.migrate import upgrade
from bazaar.kernel.clock import utcnow
from bazaar.kernel.ids import new_id
from bazaar.ledger.payouts import run_payouts
from bazaar.ledger.service import Posting, post
from bazaar.settings import Settings


async def give_balances(container: Container, sellers: list[str]) -> None:
    async with container.uow() as uow:
        for seller_id in sellers:
            order_id = new_id()
            entry = Posting("seller", seller_id, "sale", 10_000, f"bench:{order_id}", order_id)
            await post(uow, [entry], currency="USD", available_at=utcnow() - timedelta(days=1))
        await uow.commit()


async def timed(coro: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = await coro
    return result, time.perf_counter() - wall, time.process_time() - cpu


async def run(sellers: int, data_dir: Path) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir, rate_limits="off", log_level="WARNING", embedded_workers=False)
    upgrade(settings)
    container = build_container(settings)
    try:
        pay = lambda: run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli")  # noqa: E731
        _, scan_s, scan_cpu = await timed(pay())
        first = [new_id() for _ in range(sellers)]
        _, post_s, post_cpu = await timed(give_balances(container, first))
        one, one_s, one_cpu = await timed(pay())
        second = [new_id() for _ in range(sellers)]
        await give_balances(container, second)
        (a, b), two_s, two_cpu = await timed(asyncio.gather(pay(), pay()))
        count, amount = transfers_total(container.payment_sandbox.state.ledger)
        assert count == 2 * sellers == one.paid + a.paid + b.paid, (count, one.paid, a.paid, b.paid)
        assert amount == 2 * sellers * 10_000
    finally:
        await container.close()
    return {
        "backend": "postgresql" if settings.database_url else "sqlite",
        "sellers": sellers,
        "baseline_empty_run_ms": round(1000 * scan_s, 1),
        "baseline_post_entries": {"seconds": round(post_s, 3), "cpu_ms_per_entry": round(1000 * post_cpu / sellers, 3)},
        "one_run": {"seconds": round(one_s, 3), "payouts_per_second": round(one.paid / one_s, 1),
                    "cpu_ms_per_payout": round(1000 * one_cpu / max(one.paid, 1), 3)},
        "two_runs_at_once": {"seconds": round(two_s, 3), "payouts_per_second": round((a.paid + b.paid) / two_s, 1),
                             "cpu_ms_per_payout": round(1000 * two_cpu / max(a.paid + b.paid, 1), 3),
                             "paid_by_each": [a.paid, b.paid]},
        "load_average": os.getloadavg(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sellers", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bazaar-payouts-bench-") as tmp:
        result = asyncio.run(run(args.sellers, Path(tmp)))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "payouts.json").write_text(json.dumps(result, indent=2))
    one, two = result["one_run"], result["two_runs_at_once"]
    print(
        f"{result['backend']}: {args.sellers} sellers; one run {one['payouts_per_second']}/s, "
        f"{one['cpu_ms_per_payout']} ms CPU per payout; two runs at once {two['payouts_per_second']}/s "
        f"(each paid {two['paid_by_each']}), {two['cpu_ms_per_payout']} ms CPU per payout; baseline: empty run "
        f"{result['baseline_empty_run_ms']} ms, posting {result['baseline_post_entries']['cpu_ms_per_entry']} ms CPU "
        f"per entry; load average {result['load_average'][0]:.1f}"
    )


if __name__ == "__main__":
    main()
