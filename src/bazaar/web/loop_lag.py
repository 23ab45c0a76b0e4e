"""How late this process's event loop is: the headroom signal for admission control (web/admission.py).

Every `EVERY_SECONDS` a sampler asks to be woken and measures how much later than asked it ran (to about a
millisecond: uvloop keeps its timers in whole milliseconds). The lag is what any request in this process waits on
top of its own work: callbacks queued before it (other requests' slices) and the cores being busy with other
processes (the database, the worker, the other web processes), which takes the process off the CPU. It stays near
zero while the loop has room and grows when it does not, whatever the cause. It is sampled, not watched: a stall
that falls between two samples goes unseen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import Histogram

from bazaar.kernel.metrics import DOMAIN_REGISTRY

log = logging.getLogger("bazaar.web")
EVERY_SECONDS = 0.05
WINDOW = 10  # samples: the last half second, while the loop keeps time
LAG = Histogram(
    "bazaar_event_loop_lag_seconds",
    "How much later than asked this web process's event loop woke a timer (sampled every 50 ms)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
    registry=DOMAIN_REGISTRY,
)


class LoopLag:
    """The loop's lag over the last `window` samples."""

    def __init__(self, *, every: float = EVERY_SECONDS, window: int = WINDOW) -> None:
        self.every = every
        self.samples: deque[float] = deque(maxlen=window)
        self.sampled_at = -float("inf")  # time.monotonic() of the last sample
        self.listeners: list[Callable[[], None]] = []  # called after every sample (an admission lane's `wake`)

    def recent(self) -> float | None:
        """The largest lag of the last `window` samples; None unless the window is full and its last sample fresh
        (before the sampler's first half second, with no sampler running, or with one stopped: nothing is known)."""
        if len(self.samples) < (self.samples.maxlen or 0):
            return None
        if time.monotonic() - self.sampled_at > 2 * self.every * len(self.samples):
            return None
        return max(self.samples)

    def sample(self, lag: float) -> None:
        self.samples.append(lag)
        self.sampled_at = time.monotonic()
        LAG.observe(lag)
        for listener in self.listeners:
            try:
                listener()
            except Exception:  # a listener's failure must not end the sampling (recent() would go stale)
                log.exception("a loop lag listener failed")

    async def keep_sampling(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            asked = time.monotonic()
            await asyncio.sleep(self.every)
            self.sample(max(0.0, time.monotonic() - asked - self.every))
