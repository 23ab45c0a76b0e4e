"""Only the inventory modules that lock through inventory/locks.py write stock rows (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "bazaar"
ALLOWED = {"inventory/locks.py", "inventory/allocation.py", "inventory/stock.py", "inventory/hot.py"}
WRITES = re.compile(r"update\(StockBucket\)|UPDATE stock_buckets|FROM stock_buckets[^\"]*FOR UPDATE", re.S)


def test_no_module_outside_the_inventory_lock_discipline_writes_or_locks_stock_rows() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        name = path.relative_to(SRC).as_posix()
        if name.startswith("migrations/") or name in ALLOWED:
            continue
        if WRITES.search(path.read_text()):
            offenders.append(name)
    assert not offenders, f"{offenders} change stock rows outside inventory/locks.py's lock order"
