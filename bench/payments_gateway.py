"""Benchmark: authorize + capture through the payment client against the in-process sandbox provider.

Runs each scenario (injected provider latency 0 ms and 100 ms by default) with N payments at a
given concurrency, and reports per-call latency percentiles and payments per second.
Writes bench/results/payments_gateway.json and prints a summary.

    .venv/bin/python bench/payments_gateway.py [--payments 400] [--concurrency 20] [--latencies 0,100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from bazaar.bootstrap import build_payment_gateway
from bazaar.kernel.ids import new_id
from bazaar.kernel.money import Money
from bazaar.kernel.payments import CardDetails
from bazaar.settings import Settings

CARD = CardDetails(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def scenario(latency_ms: int, payments: int, concurrency: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), payment_sandbox_latency_ms=latency_ms)
        gateway, _ = build_payment_gateway(settings)
        authorize_ms: list[float] = []
        capture_ms: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                key = new_id()
                started = time.perf_counter()
                auth = await gateway.authorize(idempotency_key=f"{key}:authorize", amount=Money(1999), card=CARD)
                authorized = time.perf_counter()
                await gateway.capture(
                    idempotency_key=f"{key}:capture", provider_payment_id=auth.provider_payment_id or "",
                    amount=Money(1999),
                )  # fmt: skip
                authorize_ms.append((authorized - started) * 1000)
                capture_ms.append((time.perf_counter() - authorized) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(payments)))
        elapsed = time.perf_counter() - started
        await gateway.close()
    return {
        "latency_ms": latency_ms,
        "payments": payments,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "payments_per_second": round(payments / elapsed, 1),
        "authorize_ms": {
            "p50": round(statistics.median(authorize_ms), 2),
            "p95": round(percentile(authorize_ms, 0.95), 2),
            "p99": round(percentile(authorize_ms, 0.99), 2),
        },
        "capture_ms": {
            "p50": round(statistics.median(capture_ms), 2),
            "p95": round(percentile(capture_ms, 0.95), 2),
            "p99": round(percentile(capture_ms, 0.99), 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latencies", default="0,100", help="injected provider latencies in ms, comma-separated")
    args = parser.parse_args()
    results = [
        asyncio.run(scenario(int(latency), args.payments, args.concurrency)) for latency in args.latencies.split(",")
    ]
    out = Path(__file__).parent / "results" / "payments_gateway.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": __import__("os").cpu_count()}
    out.write_text(json.dumps({"benchmark": "payments_gateway", "machine": machine, "results": results}, indent=2))
    for r in results:
        print(
            f"latency {r['latency_ms']:>4} ms: {r['payments_per_second']:>7} payments/s "
            f"(authorize p50 {r['authorize_ms']['p50']} ms p99 {r['authorize_ms']['p99']} ms; "  # type: ignore[index]
            f"capture p50 {r['capture_ms']['p50']} ms p99 {r['capture_ms']['p99']} ms)"  # type: ignore[index]
        )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
