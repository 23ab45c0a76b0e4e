"""The load board of a node's web processes: how many client connections each is serving, in a small file that
the supervisor creates and every web process maps into memory (`mmap`), each writing only its own slot.

A slot holds two 64-bit integers: the count and when it was written (CLOCK_MONOTONIC milliseconds, one clock for
every process of the machine). A serving process writes its slot several times a second, busy or idle; a slot
not written for `STALE_MS` is absent: its process is starting, stopped, hung or dead, and is no share of the
node's connections. Aligned 8-byte stores and loads are whole on every platform CPython runs on here, so
readers need no lock: at worst they read a count a moment old.
"""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

STALE_MS = 1000
_FIELDS = 2  # count, written at (ms)
_WIDTH = 8 * _FIELDS


def create(path: Path, slots: int) -> None:
    """A board of `slots` empty slots (the supervisor, before it starts the web processes). Written aside and
    moved into place: a process still mapping an earlier board at this path keeps its own file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    aside.write_bytes(bytes(_WIDTH * slots))
    os.replace(aside, path)


def clear(path: Path, slot: int) -> None:
    """Empty one slot (the supervisor, before it starts that slot's process again: the one before may have died
    serving connections, which are gone with it)."""
    with path.open("r+b") as file:
        file.seek(slot * _WIDTH)
        file.write(bytes(_WIDTH))


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class LoadBoard:
    """One process's view of the board; `slot` is the one it writes. Its slot stays absent until it publishes."""

    def __init__(self, path: Path, slot: int) -> None:
        with path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), 0)  # the mapping outlives the file object
        self._cells = memoryview(self._map).cast("q")
        self.slots = len(self._cells) // _FIELDS
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot {slot} is not on a board of {self.slots}")
        self.slot = slot

    def publish(self, count: int) -> None:
        """This process now serves `count` connections."""
        at = self.slot * _FIELDS
        self._cells[at] = count
        self._cells[at + 1] = _now_ms()

    def counts(self) -> list[int | None]:
        """Every process's count, None for an absent one (not written for STALE_MS)."""
        now = _now_ms()
        cells = self._cells
        counts: list[int | None] = []
        for slot in range(self.slots):
            at = slot * _FIELDS
            counts.append(cells[at] if now - cells[at + 1] < STALE_MS else None)
        return counts
