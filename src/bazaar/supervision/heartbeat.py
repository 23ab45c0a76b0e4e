"""Heartbeat files: a process proves its event loop is alive by touching a file every second;
the supervisor and /readyz judge it by the file's age."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

log = logging.getLogger("bazaar.supervision")
INTERVAL_SECONDS = 1.0


def beat(path: Path) -> None:
    """Record one heartbeat now (atomically: a reader never sees a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(f"{os.getpid()} {time.time():.3f}\n")
    os.replace(temporary, path)


def age(path: Path, *, now: float | None = None) -> float | None:
    """Seconds since the last heartbeat, or None if there never was one."""
    try:
        stamp = float(path.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return max(0.0, (now if now is not None else time.time()) - stamp)


def forget(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def keep_beating(path: Path, stop: asyncio.Event, *, interval: float = INTERVAL_SECONDS) -> None:
    """Touch `path` every `interval` seconds until `stop` is set; a blocked event loop stops the beats."""
    while not stop.is_set():
        try:
            beat(path)
        except OSError:
            log.warning("could not write the heartbeat %s", path, exc_info=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    forget(path)
