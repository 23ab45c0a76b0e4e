"""The fault suite: a steady mix of checkouts (approving, declining and failing cards), holds on a hot offer,
searches and product pages against `bazaar serve --workers 2` on a private PostgreSQL and a private Redis,
with the payment provider in its own process, and one fault at a time:

    kill -9 a web process · kill -9 the worker · restart Redis without saving · restart PostgreSQL ·
    stop the payment provider · stop the worker (SIGSTOP) for a minute

After each fault the load pauses and the invariants are checked in SQL: no oversell (stock conserved per
offer), no hold past its TTL, every checkout terminal, every authorization has an order and vice versa, no
double capture or refund, every event handled by every subscription, search agrees with stock. Answers seen
by clients and the time to recover (from the part coming back until /readyz is ready and a checkout goes
through) are recorded per fault.

    .venv/bin/python bench/faults.py                 # the full form (about 4 minutes)
    .venv/bin/python bench/faults.py --short         # the CI form (tests/faults/test_fault_suite.py runs it)

Writes bench/results/faults.json (or faults-short.json) and prints the table for docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx
from tests.private_servers import PrivatePostgres, PrivateRedis, free_port, wait_for_port

RESULTS = Path(__file__).resolve().parent / "results"
API = "/api/v1"
ADDRESS = {
    "name": "Fay Fault",
    "line1": "1 Main St",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "country": "US",
}
CARDS = ["4242424242424242"] * 7 + ["4000000000000002"] * 2 + ["4000000000000119"]  # approve, decline, fail
EXPECTED = {200, 201, 202, 204, 402, 404, 409, 422}  # business answers: not errors
# The failing test card's honest answer (and every card's while the provider is down): a business answer too.
EXPECTED_CODES = {"payment_provider_unavailable"}
TERMINAL = ("completed", "failed")


@dataclass
class Plan:
    products: int = 150
    buyers: int = 4
    warmup: float = 4.0
    under_fault: float = 3.0  # load kept running after a fault begins, before the part comes back
    down_seconds: float = 4.0  # how long Redis, PostgreSQL or the provider stay down
    worker_stop_seconds: float = 60.0
    settle_timeout: float = 90.0

    @classmethod
    def short(cls) -> Plan:
        return cls(
            products=60,
            buyers=3,
            warmup=2.0,
            under_fault=1.0,
            down_seconds=2.0,
            worker_stop_seconds=8.0,
            settle_timeout=60.0,
        )


@dataclass
class FaultResult:
    fault: str
    requests: int = 0
    client_errors: dict[str, int] = field(default_factory=dict)  # status -> count, outside EXPECTED
    answers_500: int = 0
    violations: dict[str, int] = field(default_factory=dict)
    lost_events: int = 0
    lost_by_subscription: dict[str, int] = field(default_factory=dict)
    recovery_seconds: float | None = None
    restart_seconds: float | None = None  # kill -9: until the supervisor started a new process
    started_seconds: float | None = None  # kill -9: until that process was up (its first heartbeat)
    not_ready_seen: bool = False
    notes: str = ""


class Stack:
    """Private PostgreSQL and Redis, the sandbox provider as a process, and `serve --workers 2`."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.root = Path(tempfile.mkdtemp(prefix="bazaar-faults-"))
        self.pg = PrivatePostgres()
        self.redis = PrivateRedis(self.root / "redis")
        self.port, self.provider_port = free_port(), free_port()
        self.provider: subprocess.Popen[bytes] | None = None
        self.serve: subprocess.Popen[bytes] | None = None
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")},
            "BAZAAR_DATA_DIR": str(self.root / "data"),
            "BAZAAR_DATABASE_URL": self.pg.url,
            "BAZAAR_REDIS_URL": self.redis.url,
            "BAZAAR_PAYMENT_PROVIDER_URL": f"http://127.0.0.1:{self.provider_port}",
            "BAZAAR_RATE_LIMITS": "off",
            "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
            "BAZAAR_PASSWORD_HASH_PROFILE": "fast",
            "BAZAAR_ACCESS_LOG": "false",
            "BAZAAR_LOG_LEVEL": "WARNING",
            "BAZAAR_CAPTURE_DELAY_SECONDS": "2",
            "BAZAAR_RESERVATION_TTL_SECONDS": "40",
            # A stopped worker is the fault under test, not a hang for the supervisor to cure.
            "BAZAAR_SUPERVISOR_HANG_SECONDS": str(int(plan.worker_stop_seconds + 30)),
        }
        self.base = f"http://127.0.0.1:{self.port}"

    def _bazaar(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "bazaar.cli", *args],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self.pg.init().start()
        self.redis.start()
        self._bazaar("migrate")
        self._bazaar("seed", "--products", str(self.plan.products), "--quiet")
        self.start_provider()
        log = (self.root / "serve.log").open("ab")
        self.serve = subprocess.Popen(
            [sys.executable, "-m", "bazaar.cli", "serve", "--workers", "2", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 180
        while not self.ready():
            assert time.monotonic() < deadline, "serve did not become ready"
            assert self.serve.poll() is None, "serve exited"
            time.sleep(0.25)

    def start_provider(self) -> None:
        log = (self.root / "provider.log").open("ab")
        self.provider = subprocess.Popen(
            [sys.executable, "-m", "bazaar.cli", "sandbox-payments", "--port", str(self.provider_port)],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        wait_for_port(self.provider_port, timeout=60)

    def stop_provider(self) -> None:
        if self.provider is not None:
            self.provider.kill()
            self.provider.wait()
            self.provider = None

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/readyz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def children(self) -> dict[int, str]:
        assert self.serve is not None
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat[1]) == self.serve.pid and stat[0] != "Z":
                kind = "worker" if "bazaar.cli worker" in cmd else "web" if "spawn_main" in cmd else "?"
                found[int(entry.name)] = kind
        return found

    def pid_of(self, kind: str) -> int:
        return max(pid for pid, what in self.children().items() if what == kind)

    def close(self) -> None:
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.serve.kill()
        self.stop_provider()
        self.redis.stop()
        self.pg.destroy()


class Load:
    """Buyers looping over search, product pages, holds on a hot offer and checkouts; every answer recorded."""

    def __init__(self, stack: Stack, offers: list[str], hot_offer: str, queries: list[str]) -> None:
        self.stack, self.offers, self.hot, self.queries = stack, offers, hot_offer, queries
        self.running = asyncio.Event()
        self.stopped = False
        self.answers: list[tuple[float, str, int, str]] = []  # (time, operation, status, error code)
        self.in_flight = 0

    def since(self, t0: float) -> list[tuple[float, str, int, str]]:
        return [a for a in self.answers if a[0] >= t0]

    async def _call(
        self, client: httpx.AsyncClient, op: str, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        self.in_flight += 1
        try:
            r = await client.request(method, path, timeout=30, **kw)
        except httpx.HTTPError as exc:
            self.answers.append((time.monotonic(), op, 0, type(exc).__name__))
            return None
        finally:
            self.in_flight -= 1
        code = ""
        if r.status_code >= 400:
            try:
                code = r.json()["error"]["code"]
            except Exception:
                code = "?"
        self.answers.append((time.monotonic(), op, r.status_code, code))
        return r

    async def buyer(self, n: int) -> None:
        rng = random.Random(n)
        async with httpx.AsyncClient(base_url=self.stack.base) as client:
            email = f"load{n}-{os.getpid()}@example.com"
            headers: dict[str, str] = {}
            while not self.stopped:
                await self.running.wait()
                if self.stopped:
                    return
                if not headers:
                    await self._call(
                        client,
                        "register",
                        "POST",
                        f"{API}/auth/register",
                        json={"email": email, "password": "fault tolerant", "name": "Load"},
                    )
                    r = await self._call(
                        client,
                        "login",
                        "POST",
                        f"{API}/auth/login",
                        json={"email": email, "password": "fault tolerant"},
                    )
                    if r is not None and r.status_code == 200:
                        headers = {"Authorization": f"Bearer {r.json()['token']}"}
                    else:
                        await asyncio.sleep(0.5)
                    continue
                await self._call(client, "search", "GET", f"{API}/search", params={"q": rng.choice(self.queries)})
                if rng.random() < 0.3:
                    await self._call(
                        client,
                        "hold",
                        "POST",
                        f"{API}/reservations",
                        json={"offer_id": self.hot, "quantity": 1},
                        headers=headers,
                    )
                await self._checkout(client, headers, rng)
                await asyncio.sleep(0.05)

    async def _checkout(self, client: httpx.AsyncClient, headers: dict[str, str], rng: random.Random) -> None:
        offer = rng.choice(self.offers)
        r = await self._call(
            client, "cart", "POST", f"{API}/cart/items", json={"offer_id": offer, "quantity": 1}, headers=headers
        )
        if r is None or r.status_code != 200:
            return
        card = rng.choice(CARDS)
        body = {
            "shipping_address": ADDRESS,
            "shipping_method": "standard",
            "payment": {"card_number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
        key = {"Idempotency-Key": f"k{time.monotonic_ns()}"}
        r = await self._call(client, "checkout", "POST", f"{API}/checkout", json=body, headers={**headers, **key})
        if r is None:
            return
        deadline = time.monotonic() + 40
        while r is not None and r.status_code == 202 and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            checkout_id = r.json()["id"]
            polled = await self._call(client, "checkout-poll", "GET", f"{API}/checkout/{checkout_id}", headers=headers)
            if polled is not None and polled.status_code == 200 and polled.json()["status"] in TERMINAL:
                break
        # A failed checkout leaves the cart as it was: empty it so the next round starts clean.
        cart = await self._call(client, "cart", "GET", f"{API}/cart", headers=headers)
        if cart is not None and cart.status_code == 200:
            for item in cart.json().get("items", []):
                await self._call(client, "cart", "DELETE", f"{API}/cart/items/{item['id']}", headers=headers)


class Invariants:
    """The SQL checks, on the private PostgreSQL."""

    def __init__(self, url: str, subscriptions: list[tuple[str, tuple[str, ...]]]) -> None:
        self.url = url
        self.subscriptions = subscriptions
        self.initial_stock: dict[str, int] = {}
        self.cutoff: Any = None  # the database's clock when the work last settled

    async def _conn(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url)

    async def snapshot_stock(self) -> None:
        conn = await self._conn()
        try:
            rows = await conn.fetch("SELECT offer_id, sum(on_hand) AS units FROM stock_buckets GROUP BY offer_id")
            self.initial_stock = {r["offer_id"]: int(r["units"]) for r in rows}
        finally:
            await conn.close()

    async def settled(self) -> bool:
        """Nothing in flight: no checkout running, every event settled, every due capture done. Events made
        after this moment (the sweeper expiring a hold, say) are left out of the checks that follow."""
        conn = await self._conn()
        try:
            self.cutoff = await conn.fetchval("SELECT now()")
            busy = await conn.fetchval("SELECT count(*) FROM checkouts WHERE status NOT IN ('completed', 'failed')")
            unsettled = await conn.fetchval("SELECT count(*) FROM outbox WHERE settled_at IS NULL")
            capturable = await conn.fetchval(
                "SELECT count(*) FROM payments WHERE status = 'authorized' AND capture_after < now() - interval '5 s'"
            )
            return busy == 0 and unsettled == 0 and capturable == 0
        finally:
            await conn.close()

    async def check(self) -> tuple[dict[str, int], dict[str, int]]:
        conn = await self._conn()
        try:
            v: dict[str, int] = {}
            sold = {
                r["offer_id"]: int(r["units"])
                for r in await conn.fetch("SELECT offer_id, sum(quantity) AS units FROM order_lines GROUP BY offer_id")
            }
            now = {
                r["offer_id"]: int(r["units"])
                for r in await conn.fetch("SELECT offer_id, sum(on_hand) AS units FROM stock_buckets GROUP BY offer_id")
            }
            v["oversold_or_lost_units"] = sum(
                1 for offer, units in self.initial_stock.items() if now.get(offer, 0) + sold.get(offer, 0) != units
            )
            v["held_units_mismatch"] = int(
                await conn.fetchval("""
                SELECT count(*) FROM (SELECT offer_id, sum(on_hand - available) AS held FROM stock_buckets
                                      GROUP BY offer_id) b
                LEFT JOIN (SELECT offer_id, sum(quantity) AS q FROM reservations WHERE status = 'held'
                           GROUP BY offer_id) r USING (offer_id)
                WHERE b.held <> coalesce(r.q, 0)""")
            )
            v["holds_past_ttl"] = int(
                await conn.fetchval(
                    "SELECT count(*) FROM reservations WHERE status = 'held' AND expires_at < now() - interval '15 s'"
                )
            )
            v["checkouts_not_terminal"] = int(
                await conn.fetchval("SELECT count(*) FROM checkouts WHERE status NOT IN ('completed', 'failed')")
            )
            v["authorization_without_order"] = int(
                await conn.fetchval("""
                SELECT count(*) FROM payments WHERE authorized_amount > 0
                  AND status NOT IN ('voided', 'failed') AND order_id IS NULL""")
            )
            v["order_without_authorization"] = int(
                await conn.fetchval("""
                SELECT count(*) FROM orders o WHERE NOT EXISTS (
                  SELECT 1 FROM payments p WHERE p.order_id = o.id AND p.authorized_amount > 0)""")
            )
            v["double_capture_or_refund"] = int(
                await conn.fetchval("""
                SELECT count(*) FROM payments WHERE captured_amount > authorized_amount
                   OR refunded_amount > captured_amount""")
            ) + int(
                await conn.fetchval("""
                SELECT count(*) FROM (SELECT payment_id FROM payment_events WHERE kind = 'capture'
                                      GROUP BY payment_id HAVING count(DISTINCT idempotency_key) > 1) d""")
            )
            v["captures_overdue"] = int(
                await conn.fetchval(
                    "SELECT count(*) FROM payments WHERE status = 'authorized'"
                    " AND capture_after < now() - interval '30 s'"
                )
            )
            lost: dict[str, int] = {}
            for consumer, topics in self.subscriptions:
                clauses = " OR ".join(
                    f"e.topic LIKE ${i + 3}" if t.endswith(".") else f"e.topic = ${i + 3}" for i, t in enumerate(topics)
                )
                args = [t + "%" if t.endswith(".") else t for t in topics]
                lost[consumer] = int(
                    await conn.fetchval(
                        f"""  -- placeholders only
                    SELECT count(*) FROM outbox e WHERE ({clauses}) AND e.created_at <= $2
                      AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.consumer = $1 AND i.event_id = e.event_id)
                      AND NOT EXISTS (SELECT 1 FROM event_failures f WHERE f.consumer = $1
                                      AND f.event_id = e.event_id AND f.dead_at IS NOT NULL)""",  # noqa: S608
                        consumer,
                        self.cutoff,
                        *args,
                    )
                )
            v["events_unsettled"] = int(
                await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE settled_at IS NULL AND created_at <= $1", self.cutoff
                )
            )
            return v, {consumer: n for consumer, n in lost.items() if n}
        finally:
            await conn.close()


async def search_disagreements(base: str, url: str) -> int:
    """Products whose search `in_stock` differs from the database (any offer with free units)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("""
            SELECT p.id, p.title, coalesce(sum(b.available), 0) > 0 AS in_stock FROM products p
            JOIN offers o ON o.product_id = p.id JOIN stock_buckets b ON b.offer_id = o.id
            GROUP BY p.id, p.title ORDER BY coalesce(sum(b.available), 0), p.id LIMIT 15""")
    finally:
        await conn.close()
    wrong = 0
    async with httpx.AsyncClient(base_url=base) as client:
        for row in rows:
            r = await client.get(f"{API}/search", params={"q": row["title"], "per_page": 50}, timeout=30)
            item = next((i for i in r.json()["items"] if i["id"] == row["id"]), None)
            if item is None or bool(item["in_stock"]) != bool(row["in_stock"]):
                wrong += 1
    return wrong


async def _catalog(url: str) -> tuple[list[str], str, list[str]]:
    """Offers with plenty of stock for checkouts, one offer to hold units of, and search words."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("""
            SELECT o.id, sum(b.available) AS free FROM offers o JOIN stock_buckets b ON b.offer_id = o.id
            GROUP BY o.id HAVING sum(b.available) >= 20 ORDER BY o.id LIMIT 40""")
        titles = [r["title"] for r in await conn.fetch("SELECT title FROM products ORDER BY id LIMIT 40")]
    finally:
        await conn.close()
    offers = [r["id"] for r in rows]
    return offers[1:], offers[0], sorted({t.split()[-1] for t in titles})


async def _probe_checkout(base: str) -> bool:
    """One approving checkout from a fresh buyer, start to finish."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        email = f"probe{time.monotonic_ns()}@example.com"
        r = await client.post(f"{API}/auth/register", json={"email": email, "password": "probe probe", "name": "P"})
        r = await client.post(f"{API}/auth/login", json={"email": email, "password": "probe probe"})
        if r.status_code != 200:
            return False
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        offers = await client.get(f"{API}/search", params={"in_stock": "true", "per_page": 5})
        if offers.status_code != 200:
            return False
        product = await client.get(f"{API}/products/{offers.json()['items'][0]['id']}")
        if product.status_code != 200 or not product.json().get("best_offer"):
            return False
        r = await client.post(
            f"{API}/cart/items", json={"offer_id": product.json()["best_offer"]["id"], "quantity": 1}, headers=headers
        )
        if r.status_code != 200:
            return False
        body = {
            "shipping_address": ADDRESS,
            "shipping_method": "standard",
            "payment": {"card_number": CARDS[0], "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
        r = await client.post(f"{API}/checkout", json=body, headers={**headers, "Idempotency-Key": "probe"})
        deadline = time.monotonic() + 20
        while r.status_code == 202 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            r = await client.get(f"{API}/checkout/{r.json()['id']}", headers=headers)
            if r.status_code == 200 and r.json()["status"] in TERMINAL:
                break
        return r.status_code in (200, 201) and r.json().get("status") == "completed"


async def _recovered(stack: Stack, since: float, result: FaultResult, within: float = 60) -> None:
    deadline = since + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(stack.ready) and await _probe_checkout(stack.base):
            result.recovery_seconds = round(time.monotonic() - since, 2)
            return
        await asyncio.sleep(0.25)
    result.notes += f" not recovered within {within:.0f} s;"


async def _watch_not_ready(stack: Stack, result: FaultResult, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=stack.base) as client:
        while not stop.is_set():
            try:
                if (await client.get("/readyz", timeout=3)).status_code == 503:
                    result.not_ready_seen = True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)


async def _wait_new_pid(stack: Stack, kind: str, old: int, since: float, within: float = 30) -> int | None:
    """The replacement's pid, once the supervisor has started it."""
    while time.monotonic() < since + within:
        pids = [p for p, what in stack.children().items() if what == kind and p != old]
        if len(pids) >= (2 if kind == "web" else 1):
            return max(pids)
        await asyncio.sleep(0.05)
    return None


async def _wait_beating(stack: Stack, pid: int | None, within: float = 120) -> None:
    """Until process `pid` writes its heartbeat: it has started (its application is up)."""
    deadline = time.monotonic() + within
    run_dir = stack.root / "data" / "run"
    while pid is not None and time.monotonic() < deadline:
        for beat in run_dir.glob("*.heartbeat"):
            try:
                if int(beat.read_text().split()[0]) == pid:
                    return
            except (OSError, ValueError, IndexError):
                continue
        await asyncio.sleep(0.1)


async def inject(name: str, stack: Stack, plan: Plan, result: FaultResult) -> float:
    """Break one part; answers the moment it is back (or, for processes the supervisor restarts, the kill)."""
    if name in ("kill -9 web", "kill -9 worker"):
        kind = name.rsplit(" ", 1)[1]
        victim = stack.pid_of(kind)
        os.kill(victim, signal.SIGKILL)
        at = time.monotonic()
        replacement = await _wait_new_pid(stack, kind, victim, at)
        result.restart_seconds = round(time.monotonic() - at, 2) if replacement else None
        await _wait_beating(stack, replacement)  # back: the new process is up
        result.started_seconds = round(time.monotonic() - at, 2)
        return time.monotonic()
    if name == "restart Redis without saving":
        await asyncio.to_thread(stack.redis.stop)
        await asyncio.sleep(plan.down_seconds)
        await asyncio.to_thread(stack.redis.start)
        return time.monotonic()
    if name == "restart PostgreSQL":
        await asyncio.to_thread(stack.pg.stop)
        await asyncio.sleep(plan.down_seconds)
        await asyncio.to_thread(stack.pg.start)
        return time.monotonic()
    if name == "stop the payment provider":
        stack.stop_provider()
        await asyncio.sleep(plan.down_seconds * 2)
        await asyncio.to_thread(stack.start_provider)
        return time.monotonic()
    if name == "stop the worker":
        victim = stack.pid_of("worker")
        os.kill(victim, signal.SIGSTOP)
        await asyncio.sleep(plan.worker_stop_seconds)
        os.kill(victim, signal.SIGCONT)
        return time.monotonic()
    raise ValueError(name)


FAULTS = (
    "kill -9 web",
    "kill -9 worker",
    "restart Redis without saving",
    "restart PostgreSQL",
    "stop the payment provider",
    "stop the worker",
)


async def run(plan: Plan, faults: tuple[str, ...] = FAULTS) -> dict[str, Any]:
    stack = Stack(plan)
    started = time.monotonic()
    try:
        await asyncio.to_thread(stack.start)  # inside: a failed start still stops what it started
        from bazaar.bootstrap import build_container
        from bazaar.settings import Settings

        # The node's subscription names (per-node ones carry its id), without opening its data dir.
        node_id = (stack.root / "data" / "node-id").read_text().strip()
        probe = Settings(
            data_dir=stack.root / "probe", database_url=stack.pg.url, redis_url=stack.redis.url, node_id=node_id
        )
        container = build_container(probe)
        subscriptions = [(s.consumer, s.topics) for s in container.subscriptions]
        await container.close()
        invariants = Invariants(stack.pg.url, subscriptions)
        await invariants.snapshot_stock()
        offers, hot, queries = await _catalog(stack.pg.url)
        load = Load(stack, offers, hot, queries)
        buyers = [asyncio.create_task(load.buyer(n)) for n in range(plan.buyers)]
        results = []
        for name in faults:
            result = FaultResult(name)
            load.running.set()
            await asyncio.sleep(plan.warmup)
            t0 = time.monotonic()
            stop_watch = asyncio.Event()
            watcher = asyncio.create_task(_watch_not_ready(stack, result, stop_watch))
            back = await inject(name, stack, plan, result)
            await asyncio.sleep(plan.under_fault)
            await _recovered(stack, back, result)
            stop_watch.set()
            await watcher
            load.running.clear()  # let the in-flight work finish, then check
            deadline = time.monotonic() + plan.settle_timeout
            while load.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110 (polling other processes' work)
                await asyncio.sleep(0.1)
            while not await invariants.settled() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            answers = load.since(t0)
            result.requests = len(answers)
            errors = Counter(
                f"{status} {code}".strip()
                for _, _, status, code in answers
                if status not in EXPECTED and code not in EXPECTED_CODES
            )
            result.client_errors = dict(errors)
            result.answers_500 = sum(n for key, n in errors.items() if key.startswith("500"))
            result.violations, result.lost_by_subscription = await invariants.check()
            result.lost_events = sum(result.lost_by_subscription.values())
            for _ in range(20):  # search is eventually consistent: give it a few seconds after the settle
                result.violations["search_disagrees_with_stock"] = await search_disagreements(stack.base, stack.pg.url)
                if not result.violations["search_disagrees_with_stock"]:
                    break
                await asyncio.sleep(0.5)
            results.append(result)
            print(_row(result), flush=True)
        load.stopped = True
        load.running.set()
        await asyncio.gather(*buyers, return_exceptions=True)
        return {
            "benchmark": "faults",
            "plan": asdict(plan),
            "seconds": round(time.monotonic() - started, 1),
            "load_average": os.getloadavg(),
            "results": [asdict(r) for r in results],
        }
    finally:
        await asyncio.to_thread(stack.close)


HEADER = (
    "| fault | requests | client errors (non-business answers) | 500s | invariant violations | lost events "
    "| restarted / up s | recovery s | /readyz not ready seen |\n|---|---|---|---|---|---|---|---|---|"
)


def _row(r: FaultResult) -> str:
    errors = ", ".join(f"{k}: {n}" for k, n in sorted(r.client_errors.items())) or "none"
    violations = sum(v for k, v in r.violations.items())
    detail = ", ".join(f"{k} {v}" for k, v in r.violations.items() if v)
    restart = "" if r.restart_seconds is None else f"{r.restart_seconds} / {r.started_seconds}"
    return (
        f"| {r.fault} | {r.requests} | {errors} | {r.answers_500} | {violations}{f' ({detail})' if detail else ''} "
        f"| {r.lost_events} | {restart} | {r.recovery_seconds} | {'yes' if r.not_ready_seen else 'no'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI form: short outages, fewer products")
    parser.add_argument("--fault", action="append", choices=FAULTS, help="only these faults (repeatable)")
    args = parser.parse_args()
    plan = Plan.short() if args.short else Plan()
    print(HEADER, flush=True)
    report = asyncio.run(run(plan, tuple(args.fault or FAULTS)))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("faults-short.json" if args.short else "faults.json")
    out.write_text(json.dumps(report, indent=2))
    print(f"{report['seconds']} s, load average {report['load_average'][0]:.1f}; written to {out}")


if __name__ == "__main__":
    main()
