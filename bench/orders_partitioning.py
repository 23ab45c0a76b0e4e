"""Orders partitioned by buyer (issue 15): does PostgreSQL's declarative `PARTITION BY HASH (user_id)` measure well
on one server?

    .venv/bin/python bench/orders_partitioning.py [--pg-url postgresql://postgres@127.0.0.1] [--orders 400000]

For each layout (`plain`: the tables as they are, keyed by id; `hashN`: the same tables partitioned into N by hash
of the buyer, keyed by (user_id, id)), in a fresh database of its own (dropped at the end):
  - `orders` and `order_lines` with the real columns, both carrying the buyer (`user_id`), loaded with --orders
    orders of --buyers buyers, two lines each from --sellers sellers, and the sellers' index `seller_orders`
    (one row per seller of an order), then VACUUM ANALYZE;
  - pgbench runs each of the order paths for --seconds at --clients in flight:
      place          insert an order, its two lines, its directory row and its two rows of the sellers' index in
                     one transaction (what checkout writes to these tables)
      place_unindexed  the same without the directory and the sellers' index (what checkout wrote before them)
      history        a buyer's 20 latest orders and their lines (GET /orders)
      detail_buyer   one order and its lines, by id *and* buyer (GET /orders/{id}: the buyer is the caller)
      detail_id      one order and its lines by id alone (what seller and operator views, and consumers, did before
                     the directory and the sellers' index)
      seller_list    a seller's 20 latest order lines with their orders, read from every buyer's lines (the
                     seller's order list before the sellers' index)
      seller_index   a seller's 20 latest orders from the sellers' index (`seller_orders`, kept beside the orders
                     and never partitioned by buyer), then those orders and the seller's lines by (id, buyer), and
                     the count: the seller's order list as the application reads it now
    as prepared statements (as asyncpg sends them), with, per operation, the rate, the mean latency and
    PostgreSQL's CPU (every `postgres` process, from /proc; pgbench's own CPU is not counted) in ms;
  - the tables' and indexes' total size.
Writes bench/results/orders_partitioning.json and prints a table. Only the shape of the data matters here, not
the rest of the schema: foreign keys to users, offers and checkouts cost both layouts the same and are left out.
"""

# ruff: noqa: S608  (the SQL here is built from this script's own integer arguments, never from input)
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from _accounting import process_stats

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE = "bazaar_bench_partitions"

ORDER_COLUMNS = """
    id varchar(32) NOT NULL,
    user_id varchar(32) NOT NULL,
    checkout_id varchar(32) NOT NULL,
    status varchar(16) NOT NULL DEFAULT 'pending',
    currency varchar(3) NOT NULL DEFAULT 'USD',
    subtotal_amount bigint NOT NULL,
    shipping_amount bigint NOT NULL,
    tax_amount bigint NOT NULL,
    total_amount bigint NOT NULL,
    discount_amount bigint NOT NULL DEFAULT 0,
    discounts json,
    shipping_address json NOT NULL,
    shipping_method varchar(60),
    delivered_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL"""
LINE_COLUMNS = """
    id varchar(32) NOT NULL,
    order_id varchar(32) NOT NULL,
    user_id varchar(32) NOT NULL,
    offer_id varchar(32) NOT NULL,
    sku_id varchar(32) NOT NULL,
    product_id varchar(32) NOT NULL,
    seller_id varchar(32) NOT NULL,
    reservation_id varchar(32),
    title varchar(300) NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price_amount bigint NOT NULL,
    shipping_amount bigint NOT NULL DEFAULT 0,
    tax_amount bigint NOT NULL DEFAULT 0,
    discount_amount bigint NOT NULL DEFAULT 0,
    currency varchar(3) NOT NULL DEFAULT 'USD',
    shipped_quantity integer NOT NULL DEFAULT 0,
    returned_quantity integer NOT NULL DEFAULT 0"""


ROUTING = [  # as in the application: keyed by id and by seller, never partitioned by buyer
    "CREATE TABLE order_directory (id varchar(32) NOT NULL, user_id varchar(32) NOT NULL,"
    " order_id varchar(32) NOT NULL, PRIMARY KEY (id))",
    "CREATE TABLE seller_orders (seller_id varchar(32) NOT NULL, order_id varchar(32) NOT NULL,"
    " user_id varchar(32) NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (seller_id, order_id))",
    "CREATE INDEX ix_seller_orders_seller_created ON seller_orders (seller_id, created_at, order_id)",
]


def schema(partitions: int) -> list[str]:
    """DDL of one layout: 0 partitions is the tables as they are (keyed by id)."""
    if partitions == 0:
        return ROUTING + [
            f"CREATE TABLE orders ({ORDER_COLUMNS}, PRIMARY KEY (id), UNIQUE (checkout_id))",
            "CREATE INDEX ix_orders_user_created ON orders (user_id, created_at)",
            f"CREATE TABLE order_lines ({LINE_COLUMNS}, PRIMARY KEY (id))",
            "CREATE INDEX ix_order_lines_order ON order_lines (order_id)",
            "CREATE INDEX ix_order_lines_seller_order ON order_lines (seller_id, order_id)",
        ]
    ddl = ROUTING + [
        f"CREATE TABLE orders ({ORDER_COLUMNS}, PRIMARY KEY (user_id, id), UNIQUE (user_id, checkout_id))"
        " PARTITION BY HASH (user_id)",
        "CREATE INDEX ix_orders_user_created ON orders (user_id, created_at)",
        "CREATE INDEX ix_orders_id ON orders (id)",  # an order by id alone (seller and operator views)
        f"CREATE TABLE order_lines ({LINE_COLUMNS}, PRIMARY KEY (user_id, id)) PARTITION BY HASH (user_id)",
        "CREATE INDEX ix_order_lines_order ON order_lines (user_id, order_id)",
        "CREATE INDEX ix_order_lines_order_id ON order_lines (order_id)",  # lines by order id alone, as above
        "CREATE INDEX ix_order_lines_seller_order ON order_lines (seller_id, order_id)",
    ]
    for table in ("orders", "order_lines"):
        ddl += [
            f"CREATE TABLE {table}_p{i} PARTITION OF {table} FOR VALUES WITH (MODULUS {partitions}, REMAINDER {i})"
            for i in range(partitions)
        ]
    return ddl


def load(orders: int, buyers: int, sellers: int) -> list[str]:
    """Order n belongs to buyer n % buyers, is n seconds old, and has lines 'l<n>a' and 'l<n>b'."""
    return [
        f"""INSERT INTO orders (id, user_id, checkout_id, status, subtotal_amount, shipping_amount, tax_amount,
              total_amount, shipping_address, shipping_method, created_at, updated_at)
            SELECT 'o' || n, 'u' || (n % {buyers}), 'c' || n, 'delivered', 2000, 499, 0, 2499,
              '{{"name": "A Buyer", "line1": "1 Main St", "city": "Austin", "country": "US"}}', 'standard',
              now() - n * interval '1 second', now() - n * interval '1 second'
            FROM generate_series(1, {orders}) AS n""",
        f"""INSERT INTO order_lines (id, order_id, user_id, offer_id, sku_id, product_id, seller_id, title, quantity,
              unit_price_amount, shipping_amount)
            SELECT 'l' || n || side, 'o' || n, 'u' || (n % {buyers}), 'f' || (n % 5000), 'k' || (n % 5000),
              'p' || (n % 5000), 's' || ((n * 7 + ascii(side)) % {sellers}), 'A product of the catalog', 1, 1000,
              CASE WHEN side = 'a' THEN 499 ELSE 0 END
            FROM generate_series(1, {orders}) AS n, (VALUES ('a'), ('b')) AS sides(side)""",
        """INSERT INTO seller_orders (seller_id, order_id, user_id, created_at)
            SELECT DISTINCT l.seller_id, o.id, o.user_id, o.created_at FROM order_lines l JOIN orders o
              ON o.id = l.order_id AND o.user_id = l.user_id""",
        "VACUUM ANALYZE orders",
        "VACUUM ANALYZE order_lines",
        "VACUUM ANALYZE seller_orders",
    ]


def scripts(orders: int, buyers: int, sellers: int) -> dict[str, str]:
    pick = f"\\set n random(1, {orders})\n\\set u :n % {buyers}\n"
    place = f"""\\set r random(1, 9000000000000000)
\\set u random(0, {buyers - 1})
BEGIN;
INSERT INTO orders (id, user_id, checkout_id, status, subtotal_amount, shipping_amount, tax_amount, total_amount,
  shipping_address, shipping_method, created_at, updated_at)
  VALUES ('x' || :r, 'u' || :u, 'y' || :r, 'pending', 2000, 499, 0, 2499, '{{"country": "US"}}', 'standard',
  now(), now());
INSERT INTO order_lines (id, order_id, user_id, offer_id, sku_id, product_id, seller_id, title, quantity,
  unit_price_amount, shipping_amount) VALUES
  ('x' || :r || 'a', 'x' || :r, 'u' || :u, 'f1', 'k1', 'p1', 's1', 'A product of the catalog', 1, 1000, 499),
  ('x' || :r || 'b', 'x' || :r, 'u' || :u, 'f2', 'k2', 'p2', 's2', 'A product of the catalog', 1, 1000, 0);
INSERT INTO order_directory (id, user_id, order_id) VALUES ('x' || :r, 'u' || :u, 'x' || :r);
INSERT INTO seller_orders (seller_id, order_id, user_id, created_at) VALUES
  ('s1', 'x' || :r, 'u' || :u, now()), ('s2', 'x' || :r, 'u' || :u, now());
END;
"""
    unindexed = re.sub(r"INSERT INTO (order_directory|seller_orders)[^;]*;\n", "", place)
    return {
        "place": place,
        "place_unindexed": unindexed,
        "history": f"""\\set u random(0, {buyers - 1})
SELECT id, status, total_amount, created_at FROM orders WHERE user_id = 'u' || :u ORDER BY created_at DESC LIMIT 20;
SELECT l.* FROM order_lines l WHERE l.user_id = 'u' || :u AND l.order_id IN (
  SELECT id FROM orders WHERE user_id = 'u' || :u ORDER BY created_at DESC LIMIT 20);
""",
        "detail_buyer": pick
        + """SELECT * FROM orders WHERE user_id = 'u' || :u AND id = 'o' || :n;
SELECT * FROM order_lines WHERE user_id = 'u' || :u AND order_id = 'o' || :n ORDER BY id;
""",
        "detail_id": pick
        + """SELECT * FROM orders WHERE id = 'o' || :n;
SELECT * FROM order_lines WHERE order_id = 'o' || :n ORDER BY id;
""",
        "seller_list": f"""\\set s random(0, {sellers - 1})
SELECT o.id, o.status, o.created_at, l.id, l.quantity FROM order_lines l JOIN orders o
  ON o.id = l.order_id AND o.user_id = l.user_id
  WHERE l.seller_id = 's' || :s ORDER BY l.order_id DESC LIMIT 20;
""",
        "seller_index": f"""\\set s random(0, {sellers - 1})
SELECT count(*) FROM seller_orders WHERE seller_id = 's' || :s;
WITH page AS (SELECT order_id, user_id FROM seller_orders WHERE seller_id = 's' || :s
  ORDER BY created_at DESC, order_id DESC LIMIT 20)
SELECT o.id, o.status, o.created_at, o.total_amount FROM orders o
  WHERE (o.id, o.user_id) IN (SELECT order_id, user_id FROM page);
WITH page AS (SELECT order_id, user_id FROM seller_orders WHERE seller_id = 's' || :s
  ORDER BY created_at DESC, order_id DESC LIMIT 20)
SELECT l.* FROM order_lines l
  WHERE (l.order_id, l.user_id) IN (SELECT order_id, user_id FROM page) AND l.seller_id = 's' || :s;
""",
    }


def postgres_cpu() -> float:
    """CPU seconds used so far by the `postgres` processes: the live ones' own, and what those that have exited used
    (pgbench's backends end with it; the postmaster that reaped them counts their CPU as its children's)."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum(
        sum(int(x) for x in fields[11:15]) / tick  # utime, stime, cutime, cstime
        for _pid, name, fields in process_stats()
        if name == "postgres"
    )


def pgbench(dsn: str, script: str, *, clients: int, seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        cpu0 = postgres_cpu()
        # Prepared statements, as the application's driver (asyncpg) sends them: planned once per connection.
        cmd = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", f.name, dsn]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        time.sleep(1)  # pgbench's backends have exited: let the postmaster reap them (their CPU moves to it then)
        cpu = postgres_cpu() - cpu0
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
    tps = float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    ops = int(re.search(r"number of transactions actually processed: (\d+)", done.stdout).group(1))  # type: ignore[union-attr]
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    return {
        "per_s": round(tps, 1),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "operations": ops,
        "postgres_cpu_ms_per_op": round(cpu / max(ops, 1) * 1000, 3),
    }


async def layout(args: argparse.Namespace, partitions: int) -> dict[str, Any]:
    admin = await asyncpg.connect(f"{args.pg_url.rstrip('/')}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    dsn = f"{args.pg_url.rstrip('/')}/{DATABASE}"
    try:
        conn = await asyncpg.connect(dsn)
        try:
            for ddl in schema(partitions):
                await conn.execute(ddl)
            started = time.perf_counter()
            for statement in load(args.orders, args.buyers, args.sellers):
                await conn.execute(statement)
            loaded = time.perf_counter() - started
            size = await conn.fetchval(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                " WHERE c.relkind = 'r' AND (c.relname LIKE 'orders%' OR c.relname LIKE 'order_lines%'"
                " OR c.relname = 'seller_orders')"
            )
        finally:
            await conn.close()
        runs = {}
        for name, script in scripts(args.orders, args.buyers, args.sellers).items():
            runs[name] = await asyncio.to_thread(pgbench, dsn, script, clients=args.clients, seconds=args.seconds)
        return {
            "partitions": partitions,
            "load_seconds": round(loaded, 1),
            "size_mb": round(int(size) / 2**20, 1),
            "operations": runs,
        }
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1")
    parser.add_argument("--orders", type=int, default=400_000)
    parser.add_argument("--buyers", type=int, default=100_000)
    parser.add_argument("--sellers", type=int, default=2_000)
    parser.add_argument("--partitions", default="0,8,32", help="layouts: 0 is the tables as they are")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()

    async def all_layouts() -> list[dict[str, Any]]:
        return [await layout(args, int(p)) for p in args.partitions.split(",")]

    layouts = asyncio.run(all_layouts())
    result = {
        "layouts": layouts,
        "config": {k: v for k, v in vars(args).items() if k != "pg_url"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "load_average": os.getloadavg(),
        "at": datetime.now(UTC).isoformat(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "orders_partitioning.json").write_text(json.dumps(result, indent=2))
    print(f"{args.orders:,} orders of {args.buyers:,} buyers, 2 lines each; pgbench {args.clients} clients")
    names = list(layouts[0]["operations"])
    print(f"  {'layout':<8} {'MB':>6} " + " ".join(f"{n:>24}" for n in names))
    for lay in layouts:
        label = "plain" if lay["partitions"] == 0 else f"hash{lay['partitions']}"
        cells = [
            f"{r['per_s']:>8.0f}/s {r['postgres_cpu_ms_per_op']:>6.3f} ms cpu"
            for r in (lay["operations"][n] for n in names)
        ]
        print(f"  {label:<8} {lay['size_mb']:>6.0f} " + " ".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    main()
