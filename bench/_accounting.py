"""What a benchmark run cost: CPU of the processes it started (read from /proc, idle subtracted), PostgreSQL
transactions and rows written (pg_stat_database / pg_stat_user_tables deltas, idle subtracted), and a pgbench
"floor": a script that writes only what a checkout must write, so a rate can be stated as a ratio of it.

PostgreSQL 15 backends flush their statistics at most once a second, and a backend that went idle within a second
of its last flush only after PGSTAT_IDLE_INTERVAL (10 s), so every reading after work waits STATS_FLUSH_SECONDS.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

STATS_FLUSH_SECONDS = 11.0
KINDS = {"spawn_main": "web", "sandbox-payments": "sandbox", "cli worker": "worker", "cli serve": "supervisor"}


def process_cpu(groups: list[int]) -> dict[str, float]:
    """CPU seconds used so far by the processes in these process groups (the servers we started), by kind."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for _pid, kind, fields in _processes(groups):
        used[kind] = used.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def pids_of(groups: list[int], kind: str) -> list[int]:
    return [pid for pid, k, _ in _processes(groups) if k == kind]


def _processes(groups: list[int]) -> list[tuple[int, str, list[str]]]:
    found = []
    for pid, _name, fields in process_stats():
        if int(fields[2]) not in groups:  # field 5 of /proc/<pid>/stat: the process group
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        kind = next((name for marker, name in KINDS.items() if marker in cmdline), "other")
        found.append((pid, kind, fields))
    return found


def process_stats() -> list[tuple[int, str, list[str]]]:
    """(pid, command name, the fields of /proc/<pid>/stat after the name) of every process now."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        found.append((int(entry.name), name, rest.split()))
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat (other tenants' work included)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


async def db_counters(conn: asyncpg.Connection) -> dict[str, Any]:
    """PostgreSQL's cumulative counters for the connection's database: transactions and rows written, per table."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    row = await conn.fetchrow(
        "SELECT xact_commit + xact_rollback AS transactions, xact_rollback AS rollbacks"
        " FROM pg_stat_database WHERE datname = current_database()"
    )
    tables = {
        r["relname"]: int(r["n"])
        for r in await conn.fetch("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS n FROM pg_stat_user_tables")
    }
    return {
        "transactions": int(row["transactions"]),
        "rollbacks": int(row["rollbacks"]),
        "rows_written": sum(tables.values()),
        "tables": tables,
    }


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]
    db: dict[str, Any]
    ticks: tuple[int, int]


async def snapshot(conn: asyncpg.Connection, groups: list[int]) -> Snapshot:
    return Snapshot(time.monotonic(), process_cpu(groups), await db_counters(conn), machine_ticks())


def cpu_snapshot(groups: list[int]) -> Snapshot:
    """CPU alone, now: the end of an operation's CPU window, which need not wait for PostgreSQL's stats flush."""
    return Snapshot(time.monotonic(), process_cpu(groups), {}, machine_ticks())


@dataclass
class Idle:
    """What the started processes and the database do per second with no load (workers poll, pools ping)."""

    cpu_per_s: dict[str, float] = field(default_factory=dict)
    transactions_per_s: float = 0.0
    rows_per_s: float = 0.0
    tables_per_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cpu_ms_per_s": {k: round(v * 1000, 2) for k, v in self.cpu_per_s.items()},
            "transactions_per_s": round(self.transactions_per_s, 2),
            "rows_written_per_s": round(self.rows_per_s, 2),
        }


async def measure_idle(conn: asyncpg.Connection, groups: list[int], seconds: float) -> Idle:
    await asyncio.sleep(STATS_FLUSH_SECONDS)  # let the work before this land in the counters first
    before = await snapshot(conn, groups)
    await asyncio.sleep(seconds)
    after = await snapshot(conn, groups)
    span = after.at - before.at
    return Idle(
        cpu_per_s={k: max(0.0, (after.cpu[k] - before.cpu.get(k, 0.0)) / span) for k in after.cpu},
        transactions_per_s=max(0.0, (after.db["transactions"] - before.db["transactions"]) / span),
        rows_per_s=max(0.0, (after.db["rows_written"] - before.db["rows_written"]) / span),
        tables_per_s={
            t: (n - before.db["tables"].get(t, 0)) / span
            for t, n in after.db["tables"].items()
            if n != before.db["tables"].get(t, 0)
        },
    )


def cost(
    before: Snapshot,
    after: Snapshot,
    idle: Idle,
    operations: int,
    *,
    kinds: set[str] | None = None,
    cpu_until: Snapshot | None = None,
) -> dict:
    """Per operation: CPU ms by process kind and in total (idle subtracted), transactions and rows written
    (idle subtracted), the tables written most, and how busy the whole machine was meanwhile.

    `cpu_until`: where the CPU window ends (`cpu_snapshot` once the work is done), when `after` was taken later
    for PostgreSQL's counters: every second of window past the work adds the idle cost's own spread to the
    figure (the worker's idle polling varies by tens of ms a second)."""
    span = after.at - before.at
    end = cpu_until or after
    cpu_span = end.at - before.at
    cpu = {}
    for kind in sorted(end.cpu):
        if kind == "other" or (kinds is not None and kind not in kinds):
            continue
        used = end.cpu[kind] - before.cpu.get(kind, 0.0) - idle.cpu_per_s.get(kind, 0.0) * cpu_span
        cpu[kind] = round(max(0.0, used) * 1000 / operations, 2)
    bazaar = sum(v for k, v in cpu.items() if k in ("web", "worker", "supervisor"))
    # Without the idle subtraction: a busy worker skips its idle polls, so subtracting them all undercounts it.
    raw = sum(end.cpu[k] - before.cpu.get(k, 0.0) for k in cpu) * 1000 / operations
    transactions_raw = after.db["transactions"] - before.db["transactions"]
    transactions = transactions_raw - idle.transactions_per_s * span
    rows = after.db["rows_written"] - before.db["rows_written"] - idle.rows_per_s * span
    tables = {}
    for table, n in after.db["tables"].items():
        written = n - before.db["tables"].get(table, 0) - idle.tables_per_s.get(table, 0.0) * span
        if written / operations >= 0.05:
            tables[table] = round(written / operations, 2)
    busy, total = (a - b for a, b in zip(end.ticks, before.ticks, strict=True))
    return {
        "cpu_ms": {**cpu, "bazaar_total": round(bazaar, 2), "bazaar_total_idle_included": round(raw, 2)},
        "transactions": round(transactions / operations, 2),
        "transactions_idle_included": round(transactions_raw / operations, 2),
        "rollbacks": round((after.db["rollbacks"] - before.db["rollbacks"]) / operations, 2),
        "rows_written": round(rows / operations, 2),
        "rows_by_table": dict(sorted(tables.items(), key=lambda kv: -kv[1])),
        "machine_cpu_busy_percent": round(100 * busy / max(total, 1), 1),
        "seconds": round(span, 2),
        "cpu_seconds": round(cpu_span, 2),
    }


async def sample_queries(dsn: str, stop: asyncio.Event, every: float = 0.005) -> dict[str, int]:
    """What the database's other sessions are running, sampled until `stop`: query text -> times seen."""
    conn = await asyncpg.connect(dsn)
    seen: dict[str, int] = {}
    try:
        while not stop.is_set():
            for row in await conn.fetch(
                "SELECT state, left(query, 160) AS q FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
            ):
                key = f"[{row['state']}] {row['q']}"
                seen[key] = seen.get(key, 0) + 1
            await asyncio.sleep(every)
    finally:
        await conn.close()
    return dict(sorted(seen.items(), key=lambda kv: -kv[1])[:25])


# --- the floor: only what a checkout must write, as pgbench runs it -------------------------------------------

FLOOR_TABLE = "bench_floor_offers"
FLOOR_SCRIPT = """\\set o1 random(1, {offers})
\\set o2 random(1, {offers})
\\set r random(1, 9000000000000000)
BEGIN;
INSERT INTO checkouts (id, user_id, idempotency_key, request_hash, status, shipping_address, lines, currency,
  subtotal_amount, shipping_amount, tax_amount, total_amount, attempts, deadline_at, created_at, updated_at)
  VALUES ('fl' || :r, '{user}', 'fl' || :r, 'h', 'completed', '{{}}', '[]', 'USD', 2000, 499, 0, 2499, 0,
  now(), now(), now());
UPDATE stock_buckets SET available = available - 1, on_hand = on_hand - 1
  WHERE offer_id = (SELECT offer_id FROM {table} WHERE n = :o1) AND bucket = 0 AND available >= 1;
UPDATE stock_buckets SET available = available - 1, on_hand = on_hand - 1
  WHERE offer_id = (SELECT offer_id FROM {table} WHERE n = :o2) AND bucket = 0 AND available >= 1;
INSERT INTO payments (id, checkout_id, provider, provider_payment_id, idempotency_key, status, currency, amount,
  authorized_amount, captured_amount, refunded_amount, card_last4, created_at, updated_at)
  VALUES ('fl' || :r, 'fl' || :r, 'sandbox', 'pp' || :r, 'fl' || :r, 'authorized', 'USD', 2499, 2499, 0, 0,
  '4242', now(), now());
INSERT INTO orders (id, user_id, checkout_id, status, currency, subtotal_amount, shipping_amount, tax_amount,
  total_amount, shipping_address, shipping_method, created_at, updated_at)
  VALUES ('fl' || :r, '{user}', 'fl' || :r, 'pending', 'USD', 2000, 499, 0, 2499, '{{"country": "US"}}',
  'standard', now(), now());
INSERT INTO order_lines (id, order_id, user_id, offer_id, sku_id, product_id, seller_id, title, quantity,
  unit_price_amount, shipping_amount, tax_amount, currency, shipped_quantity, returned_quantity)
  SELECT 'fl' || :r || 'a', 'fl' || :r, '{user}', offer_id, sku_id, product_id, seller_id, title, 1, 1000, 499, 0,
  'USD', 0, 0
  FROM {table} WHERE n = :o1;
INSERT INTO order_lines (id, order_id, user_id, offer_id, sku_id, product_id, seller_id, title, quantity,
  unit_price_amount, shipping_amount, tax_amount, currency, shipped_quantity, returned_quantity)
  SELECT 'fl' || :r || 'b', 'fl' || :r, '{user}', offer_id, sku_id, product_id, seller_id, title, 1, 1000, 0, 0,
  'USD', 0, 0
  FROM {table} WHERE n = :o2;
INSERT INTO outbox (event_id, topic, key, payload, created_at, attempts)
  VALUES ('fl' || :r, 'orders.order_placed.v1', 'fl' || :r, '{{}}', now(), 0);
END;
"""


async def prepare_floor(conn: asyncpg.Connection, user_id: str) -> int:
    """A numbered copy of the offers (pgbench picks by number) for the floor script; answers how many."""
    await conn.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
    create = (
        f"CREATE TABLE {FLOOR_TABLE} AS SELECT row_number() OVER (ORDER BY o.id)::int AS n, o.id AS offer_id,"  # noqa: S608
        " o.sku_id, o.product_id, o.seller_id, p.title FROM offers o JOIN products p ON p.id = o.product_id"
    )
    await conn.execute(create)
    await conn.execute(f"ALTER TABLE {FLOOR_TABLE} ADD PRIMARY KEY (n)")
    await conn.execute(
        "INSERT INTO users (id, email, name, password_hash, is_admin, created_at)"
        " VALUES ($1, $2, 'Floor', 'x', false, now()) ON CONFLICT DO NOTHING",
        user_id, f"floor-{user_id}@bench.example",
    )  # fmt: skip
    return int(await conn.fetchval(f"SELECT count(*) FROM {FLOOR_TABLE}"))  # noqa: S608


async def run_floor(conn: asyncpg.Connection, dsn: str, *, user_id: str, clients: int, seconds: int) -> dict:
    """pgbench with the floor script at `clients` in flight for `seconds`: its rate, and what it wrote each time."""
    offers = await prepare_floor(conn, user_id)
    script = FLOOR_SCRIPT.format(offers=offers, user=user_id, table=FLOOR_TABLE)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    await asyncio.sleep(STATS_FLUSH_SECONDS)
    before = await snapshot(conn, [])
    cmd = ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", f.name, dsn]
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True)
    os.unlink(f.name)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
    await asyncio.sleep(STATS_FLUSH_SECONDS)
    after = await snapshot(conn, [])
    tps = float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    ops = max(1, int(re.search(r"number of transactions actually processed: (\d+)", done.stdout).group(1)))  # type: ignore[union-attr]
    return {
        "clients": clients,
        "seconds": seconds,
        "per_s": round(tps, 1),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "operations": ops,
        "transactions": round((after.db["transactions"] - before.db["transactions"]) / ops, 2),
        "rows_written": round((after.db["rows_written"] - before.db["rows_written"]) / ops, 2),
        "machine_cpu_busy_percent": round(
            100 * (after.ticks[0] - before.ticks[0]) / max(after.ticks[1] - before.ticks[1], 1), 1
        ),
    }
