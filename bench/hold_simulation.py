"""Fixed 10-minute holds against adaptive holds, for the same simulated buyers of one flash sale.

    .venv/bin/python bench/hold_simulation.py [--units 300] [--buyers 5000] [--minutes 30] [--seed 7]

A discrete-event simulation (no server: the policy is the same code the server runs,
`bazaar.inventory.hold_times.adaptive_ttl`, fed with the times to purchase observed so far and re-measured
every 30 s, capped at the sale's 180 s). Buyers arrive evenly over the sale and queue first come, first
served; when a unit is free the next buyer holds it. Each buyer is drawn once (seeded) and behaves the same
under both policies: with probability --buy-share they buy after a log-normal time (median --median-seconds),
else they walk away and their hold expires; a buyer waiting in the queue longer than their patience
(uniform 2-20 min) leaves. A purchase that comes after its hold expired is lost.

Reports, per policy: units sold in the sale and per minute, the share of the sale's units still unsold at its
end, when it sold out, the share of holds that expired unsold and the unit-minutes they kept from buyers, lost
purchases (paid after the hold expired) and buyers who gave up waiting. Writes bench/results/hold_simulation.json.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bazaar.inventory.hold_times import adaptive_ttl

RESULTS = Path(__file__).resolve().parent / "results"
REMEASURE_SECONDS = 30.0


@dataclass(frozen=True)
class Buyer:
    arrives: float
    buys: bool
    buy_after: float  # seconds from getting the hold to paying, if they buy
    patience: float  # seconds they wait in the queue before leaving


def buyers(n: int, *, seconds: float, buy_share: float, median: float, seed: int) -> list[Buyer]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        arrives = seconds * i / n + rng.uniform(0, seconds / n)
        out.append(
            Buyer(arrives, rng.random() < buy_share, rng.lognormvariate(0, 0.6) * median, rng.uniform(120, 1200))
        )
    return out


def simulate(
    crowd: list[Buyer], *, units: int, seconds: float, policy: str, floor: int, ceiling: int, cap: int
) -> dict[str, Any]:
    events: list[tuple[float, int, str, int]] = []  # (time, order, kind, buyer index)
    order = 0

    def at(t: float, kind: str, who: int) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, who))

    for i, b in enumerate(crowd):
        at(b.arrives, "arrive", i)
    free, queue, waiting = units, deque[int](), set[int]()
    samples: list[float] = []
    ttl, measured_at = float(ceiling if policy == "adaptive" else 600), -1e9
    sold = held = expired = lost = gave_up = 0
    sold_in_sale = 0
    sold_out_at: float | None = None
    blocked = 0.0  # unit-seconds held by holds that then expired unsold
    holding: dict[int, tuple[float, float]] = {}  # buyer -> (held at, expires at)

    def serve(now: float) -> None:
        nonlocal free, held, ttl, measured_at
        while free > 0 and queue:
            who = queue.popleft()
            if who not in waiting:
                continue
            waiting.discard(who)
            if policy == "adaptive" and now - measured_at >= REMEASURE_SECONDS:
                ttl, measured_at = float(min(cap, adaptive_ttl(samples, floor=floor, ceiling=ceiling))), now
            free -= 1
            held += 1
            holding[who] = (now, now + ttl)
            b = crowd[who]
            if b.buys and b.buy_after < ttl:
                at(now + b.buy_after, "buy", who)
            else:
                if b.buys:
                    at(now + b.buy_after, "late", who)
                at(now + ttl, "expire", who)

    while events:
        now, _, kind, who = heapq.heappop(events)
        if kind == "arrive":
            if now >= seconds:
                continue
            queue.append(who)
            waiting.add(who)
            at(now + crowd[who].patience, "leave", who)
        elif kind == "leave" and who in waiting:
            waiting.discard(who)
            gave_up += 1
        elif kind == "buy":
            holding.pop(who, None)
            sold += 1
            sold_in_sale += now < seconds
            if sold == units:
                sold_out_at = now
            samples.append(crowd[who].buy_after)
        elif kind == "late":
            lost += 1
        elif kind == "expire" and who in holding:
            start, end = holding.pop(who)
            expired += 1
            free += 1
            blocked += end - start
        serve(now)
    return {
        "policy": policy,
        "units_sold": sold,
        "units_sold_in_sale": sold_in_sale,
        "units_sold_per_minute": round(sold_in_sale / (seconds / 60), 2),
        "held_units": held,
        "expired_unsold_share": round(expired / held, 3) if held else 0.0,
        "lost_purchases": lost,
        "gave_up_waiting": gave_up,
        "final_hold_ttl_seconds": ttl,
        "units_unsold_at_end": units - sold_in_sale,
        "unsold_share_at_end": round((units - sold_in_sale) / units, 3),
        "sold_out_after_minutes": round(sold_out_at / 60, 1) if sold_out_at is not None else None,
        "unit_minutes_blocked_by_expired_holds": round(blocked / 60),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--buy-share", type=float, default=0.5, help="buyers who pay once they hold")
    parser.add_argument("--median-seconds", type=float, default=45, help="median time from hold to payment")
    parser.add_argument("--floor", type=int, default=120, help="BAZAAR_RESERVATION_TTL_MIN_SECONDS")
    parser.add_argument("--ceiling", type=int, default=600, help="BAZAAR_RESERVATION_TTL_SECONDS")
    parser.add_argument("--sale-cap", type=int, default=180, help="BAZAAR_FLASH_HOLD_TTL_SECONDS")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    seconds = args.minutes * 60
    crowd = buyers(args.buyers, seconds=seconds, buy_share=args.buy_share, median=args.median_seconds, seed=args.seed)
    common = {
        "units": args.units,
        "seconds": seconds,
        "floor": args.floor,
        "ceiling": args.ceiling,
        "cap": args.sale_cap,
    }
    fixed = simulate(crowd, policy="fixed", **common)
    adaptive = simulate(crowd, policy="adaptive", **common)
    result = {"config": vars(args), "fixed_10_min": fixed, "adaptive": adaptive, "at": datetime.now(UTC).isoformat()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hold_simulation.json").write_text(json.dumps(result, indent=2))
    print(f"{args.buyers} buyers, {args.units} units, {args.minutes:g} min sale, {args.buy_share:.0%} buy "
          f"(median {args.median_seconds:g} s after the hold), seed {args.seed}")  # fmt: skip
    for r in (fixed, adaptive):
        print(
            f"  {r['policy']:9} sold {r['units_sold_in_sale']:4} in the sale ({r['units_sold_per_minute']:6.2f}/min), "
            f"expired unsold {r['expired_unsold_share']:.1%} of held units, lost purchases {r['lost_purchases']}, "
            f"gave up waiting {r['gave_up_waiting']}, hold {r['final_hold_ttl_seconds']:.0f} s"
        )
        print(
            f"            unsold at the end {r['unsold_share_at_end']:.1%}, sold out after "
            f"{r['sold_out_after_minutes']} min, {r['unit_minutes_blocked_by_expired_holds']} unit-minutes "
            "held by holds that expired unsold"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
