"""The worker runner: each worker is `run_once(container) -> int`, looped until stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bazaar.bootstrap import Container
from bazaar.workers import (
    flash_sales,
    mail_sender,
    node,
    outbox_relay,
    payments,
    payouts,
    reservation_sweeper,
    sale_prices,
    search_indexer,
)

log = logging.getLogger("bazaar.workers")

RunOnce = Callable[[Container], Awaitable[int]]


@dataclass(frozen=True)
class Worker:
    name: str
    run_once: RunOnce
    idle_seconds: float
    wake_on_outbox: bool = False
    wake_on_stream: bool = False
    # A round that did some work but less than `full` is followed by this pause rather than by the next round
    # at once: under a steady trickle of events (a checkout's three every few milliseconds) each round and
    # each consumer's transaction then carries several checkouts' events instead of one.
    linger_seconds: float = 0.0
    full: int = 0


def all_workers(container: Container) -> list[Worker]:
    """Every background worker; later contexts add theirs here."""
    poll = container.settings.worker_poll_seconds
    streams = bool(container.settings.redis_url)  # else the outbox is the stream: nothing to relay
    linger, full = container.settings.event_linger_seconds, container.settings.event_batch_size
    relay = Worker("outbox-relay", outbox_relay.run_once, poll, wake_on_outbox=True, linger_seconds=linger, full=full)
    return [
        Worker("node-heartbeat", node.heartbeat, container.settings.node_heartbeat_seconds),
        *([relay] if streams else []),
        # One loop serves every subscription; partitions are leased, so any number of processes may run it.
        Worker(
            "event-consumers",
            outbox_relay.consume_once,
            poll,
            wake_on_outbox=not streams,
            wake_on_stream=streams,
            linger_seconds=linger,
            full=full,
        ),
        Worker("reservation-sweeper", reservation_sweeper.run_once, max(poll, 1.0)),
        Worker("checkout-reconciler", payments.run_reconciler, max(poll, 2.0)),
        Worker("payment-capture", payments.run_capture, max(poll, 1.0)),
        Worker("return-refunds", payments.run_return_refunds, max(poll, 5.0)),
        # Woken by the outbox: an event that queues an email is followed by the consumer, then this.
        Worker("mail-sender", mail_sender.run_once, max(poll, 1.0), wake_on_outbox=True),
        # Short idle so a marked product is committed about a second after its event, not later.
        Worker("search-indexer", search_indexer.run_once, min(poll, 0.25)),
        # Announces each sale's start and end within a quarter second of the clock.
        Worker("flash-sale-scheduler", flash_sales.run_scheduler, min(poll, 0.25)),
        # Lets waiting buyers in a few times a second, as the sale's free units allow.
        Worker("flash-sale-admitter", flash_sales.run_admitter, min(poll, 0.25)),
        # Pays sellers once per BAZAAR_PAYOUT_INTERVAL_HOURS (daily), remembered in the database across restarts.
        Worker("payouts", payouts.run_once, 60.0),
        # Switches offers to and from their scheduled sale price within half a second of the clock.
        Worker("sale-prices", sale_prices.run_once, min(poll, 0.5)),
    ]


async def run_worker(container: Container, worker: Worker, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            done = await worker.run_once(container)
        except Exception:
            log.exception("worker %s failed; retrying", worker.name)
            done = 0
        if done and worker.linger_seconds and done < worker.full:
            try:  # a trickle: let more gather (stopping ends the pause at once)
                await asyncio.wait_for(stop.wait(), timeout=worker.linger_seconds)
            except TimeoutError:
                pass
            continue
        if done:
            continue
        waits = [asyncio.ensure_future(stop.wait())]
        if worker.wake_on_outbox:
            container.outbox_wakeup.clear()
            waits.append(asyncio.ensure_future(container.outbox_wakeup.wait()))
        if worker.wake_on_stream:
            container.stream_wakeup.clear()
            waits.append(asyncio.ensure_future(container.stream_wakeup.wait()))
        _, pending = await asyncio.wait(waits, timeout=worker.idle_seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


async def run_all(container: Container, stop: asyncio.Event) -> None:
    workers = all_workers(container)
    await node.join_cluster(container)
    log.info("node %s: workers started: %s", container.node_id, ", ".join(w.name for w in workers))
    try:
        await asyncio.gather(*(run_worker(container, w, stop) for w in workers))
    finally:
        await node.leave_cluster(container)
