"""Settings: embedded defaults for `make run`, production values from BAZAAR_* variables."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Time the checkout saga needs around its one provider call (cart, holds, pricing before it; recording the
# authorization and placing the order after it), on a busy machine. The checkout deadline must leave it.
CHECKOUT_DEADLINE_MARGIN_SECONDS = 5.0


class SettingsError(RuntimeError):
    """Settings that cannot work together; `bazaar` refuses to start and prints the message."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BAZAAR_", extra="ignore")

    env: str = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str = "development-only-secret"

    reservation_ttl_seconds: int = 600  # the longest a hold lasts (and its length while nothing is measured yet)
    # Adaptive holds (inventory/hold_times.py): each hold lasts what buyers need to buy, never less than this.
    reservation_ttl_min_seconds: int = Field(default=120, ge=10)
    reservation_ttl_adaptive: bool = True
    # Hold limits (inventory/limits.py): units one buyer may hold at once, over all offers and per offer, and
    # holds (POST /reservations) one buyer may ask for per minute (with rate limits on).
    hold_max_units_per_buyer: int = Field(default=200, ge=1)
    hold_max_units_per_offer: int = Field(default=50, ge=1)
    hold_limit_per_minute: int = Field(default=120, ge=1)
    # Flash sales: a hold made through a sale lasts at most this long (short, so unbought units return fast).
    flash_hold_ttl_seconds: int = Field(default=180, ge=10)
    flash_admission_window_seconds: int = Field(default=120, ge=5)  # an admitted buyer may hold within this
    flash_queue_idle_seconds: int = Field(default=60, ge=5)  # a waiting buyer not polling this long loses the place
    capture_delay_seconds: int = 60
    # Captures a worker has with the provider at once (each a call of its latency): on PostgreSQL; one on SQLite.
    capture_concurrency: int = Field(default=8, ge=1, le=16)  # within the worker's read pool (4 + 8)
    # A worker holds the due captures it takes for this long; another worker (another node's) takes one only after
    # (the first died mid-round). What a worker claims waits for at most one capture before it is sent: at least
    # two provider calls and a margin, or a slow capture could be sent by two workers (harmless, one key, one
    # capture, but wasted).
    capture_claim_seconds: float = Field(default=30.0, gt=0)
    checkout_deadline_seconds: int = 30
    rate_limits: str = "on"
    login_limit_per_minute: int = 10  # per email
    login_ip_limit_per_minute: int = 60
    register_limit_per_minute: int = 20  # per IP
    register_email_limit_per_minute: int = 5
    password_hash_profile: str = "default"  # "fast" only for tests
    redis_prefix: str = "bazaar:"
    token_ttl_days: int = 30

    # Request bodies (web/guards.py): JSON and forms, and multipart uploads (an image is at most 10 MB).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_body_bytes: int = Field(default=12 * 1024 * 1024, ge=1024)
    hsts_seconds: int = Field(default=0, ge=0)  # Strict-Transport-Security max-age; set it when served over TLS
    # Addresses of the reverse proxies whose X-Forwarded-For / -Proto are believed ("127.0.0.1,10.0.0.5", or "*").
    # Unset: nobody's; the client address is the peer's (a rotating X-Forwarded-For cannot dodge the IP limits).
    trusted_proxies: str = ""

    # Admission control (web/admission.py), per web process: checkouts and other writes run at once; the rest
    # wait in line up to admission_wait_seconds, then 503 `overloaded` with Retry-After. 0 = no bound.
    # One checkout per process while its event loop lags: at two, a 32-shopper soak on 2 cores put product-page p99
    # at 160 ms (budget 150); at one, 58 ms, for 28 % fewer checkouts a second (docs/PERFORMANCE.md, issue 21)...
    admission_checkouts_per_process: int = Field(default=1, ge=0)
    # ...and this many while its event loop keeps time (its last ten 50 ms samples each within 5 ms,
    # web/admission.py): a process waits on the database for much of a checkout, and a second one uses that wait.
    # No effect when not above `admission_checkouts_per_process` (or when that is 0).
    admission_checkouts_with_headroom: int = Field(default=2, ge=0)
    admission_writes_per_process: int = Field(default=8, ge=0)
    admission_wait_seconds: float = Field(default=10.0, gt=0)
    worker_nice: int = Field(default=5, ge=0, le=19)  # `bazaar worker` runs this much nicer than the web processes

    db_pool_size: int = 10
    db_max_overflow: int = 20
    # PostgreSQL: reads (read_uow, sessions, readiness) have a pool of their own, so a burst of writes waiting on row
    # locks (a flash sale's first seconds) cannot take every connection from a login or a product page.
    db_read_pool_size: int = Field(default=4, ge=1)
    db_read_max_overflow: int = Field(default=8, ge=0)
    db_ping_after_idle_seconds: float = Field(default=2.0, ge=0)  # ping a pooled connection idle longer than this
    # PostgreSQL: each web process opens this many connections of each pool before its first request, so the first
    # burst after a start (a flash sale going live on a fresh deploy) does not wait for connections to be made.
    db_warm_connections: int = Field(default=2, ge=0)
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True
    embedded_workers: bool = True
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    # After a round of events that did not fill a batch, the relay and the consumers wait this long before the
    # next: events of the next checkouts join the same transactions instead of each paying for its own.
    event_linger_seconds: float = Field(default=0.05, ge=0, le=5)
    seed_products_on_first_start: int = 2000
    # Supervision (set by `serve --workers N` for its children; see docs/RELIABILITY.md).
    heartbeat_file: Path | None = None  # this process touches it every second while its event loop runs
    worker_heartbeat_file: Path | None = None  # /readyz answers 503 while this file is stale
    worker_stale_seconds: float = Field(default=10.0, gt=0)  # a worker silent this long is "down" for /readyz
    ready_max_event_age_seconds: float = Field(default=120.0, gt=0)  # an unpublished event this old: "stuck"
    supervisor_startup_grace_seconds: float = Field(default=180.0, gt=0)  # before a child's first heartbeat
    supervisor_hang_seconds: float = Field(default=30.0, gt=0)  # a child silent this long is killed and restarted
    # The node's load board and this web process's slot on it (set by `serve --workers N`): a process serving more
    # than its share of the node's connections asks clients to reconnect (web/balance.py).
    web_board_file: Path | None = None
    web_board_slot: int = Field(default=0, ge=0)
    balance_connections: bool = True

    # Payments: unset provider URL = the built-in sandbox provider, reached in-process.
    payment_provider_url: str | None = None
    payment_call_timeout_seconds: float = Field(default=2.0, gt=0)  # one HTTP attempt
    payment_deadline_seconds: float = Field(default=8.0, gt=0)  # one operation, retries included
    payment_retry_base_seconds: float = Field(default=0.1, gt=0)  # first backoff; doubles, with jitter
    payment_retry_max_seconds: float = Field(default=1.0, gt=0)
    payment_sandbox_database: str | None = None  # a path or sqlite:/// URL; default <data_dir>/sandbox-payments.sqlite3
    payment_sandbox_latency_ms: int = Field(default=0, ge=0)
    payment_sandbox_hang_seconds: float = Field(default=30.0, ge=0)
    # The in-process sandbox is also reachable over HTTP at /_sandbox/payments only when this is on (a development
    # tool: refused in production) and then only with `X-Sandbox-Secret: <payment_sandbox_secret>`.
    payment_sandbox_public: bool = False
    payment_sandbox_secret: str | None = None
    # Money to sellers: a sale becomes available this long after delivery; the payouts worker pays every
    # payout_interval_hours (daily); the signed payment webhooks use this secret (HMAC-SHA256 of the body).
    payout_hold_days: float = Field(default=14, ge=0)
    payout_interval_hours: float = Field(default=24, gt=0)
    payment_webhook_secret: str = "development-webhook-secret"
    dispute_fee_amount: int = Field(default=1500, ge=0)  # a lost dispute's fee when the provider does not say
    # Where the sandbox sends its webhooks when it runs as its own process (default: public_url + the webhook path);
    # in-process it calls the app directly.
    payment_sandbox_webhook_url: str | None = None
    # Event stream (Redis Streams when redis_url is set, else the outbox table in-process).
    event_partitions: int = Field(default=4, ge=1)  # streams per topic group; a key always maps to one
    event_max_deliveries: int = Field(default=5, ge=1)  # then the event goes to the dead letters
    event_retry_base_seconds: float = Field(default=0.5, ge=0)  # backoff: base * 2^(attempt-1)
    event_retry_max_seconds: float = Field(default=60, ge=0)
    event_batch_size: int = Field(default=100, ge=1)
    # An unsettled event published this long ago whose stream shows nothing left for a consumer that still owes
    # it was lost by the broker (a restart without saving, a flush, a failover): it is published again.
    event_republish_grace_seconds: float = Field(default=5.0, gt=0)
    event_lease_seconds: float = Field(default=30, gt=0)  # one consumer owns a partition this long unless renewed
    event_stream_maxlen: int = Field(default=100_000, ge=1000)  # hard cap per partition stream

    # Email: through SMTP when smtp_url is set (smtp://host:port, smtps://user:pass@host:port), else .eml files
    # under <data_dir>/mail/. Links in emails start with public_url.
    smtp_url: str | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    smtp_ca_file: str | None = None  # trust this CA (PEM) for smtps/STARTTLS, e.g. a private mail relay
    mail_from: str = "Bazaar <no-reply@bazaar.localhost>"
    public_url: str = "http://127.0.0.1:8000"
    mail_retry_base_seconds: float = Field(default=2.0, gt=0)  # first backoff; doubles, with jitter
    mail_retry_max_seconds: float = Field(default=600.0, gt=0)
    mail_give_up_hours: float = Field(default=72.0, gt=0)  # an email not accepted by then is marked failed
    mail_batch_size: int = Field(default=20, ge=1, le=500)
    mail_keep_days: int = Field(default=30, ge=1)  # sent emails are deleted from the outbox after this
    # Wish list alerts: at most one back-in-stock and one price-drop alert per buyer and product in this window.
    alert_cooldown_seconds: int = Field(default=6 * 3600, ge=0)
    # Guest checkout, per IP and per email address.
    guest_checkout_limit_per_minute: int = 10
    guest_checkout_email_limit_per_minute: int = 5
    # The cluster: this node's name (per-node consumer groups, the node registry); default: made once and
    # kept in <data_dir>/node-id, so a node keeps its name across restarts and two data dirs never share one.
    node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,48}$")
    node_heartbeat_seconds: float = Field(default=5.0, gt=0)
    node_dead_after_seconds: float = Field(default=30.0, gt=0)  # no heartbeat for this long: the node is gone
    # PostgreSQL read replicas (comma-separated URLs) for reads that tolerate lag; see bazaar.db.replicas.
    database_replica_urls: str | None = None
    replica_check_seconds: float = Field(default=1.0, gt=0)  # how often each process checks the replicas' lag
    replica_sticky_seconds: float = Field(default=10.0, ge=0)  # a client that wrote reads the primary this long
    node_started_at: datetime | None = None  # set by `serve` for its processes: /readyz waits for this run's indexer

    @cached_property
    def resolved_node_id(self) -> str:
        """BAZAAR_NODE_ID, else the name kept in the data dir (created on first use)."""
        if self.node_id:
            return self.node_id
        path = self.data_dir / "node-id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        candidate.write_text(f"node-{secrets.token_hex(6)}\n")
        try:  # two processes of one node starting together: the first link wins, both read it
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink(missing_ok=True)
        return path.read_text().strip()

    # Product images: content-addressed files here (default <data_dir>/media). A cluster's nodes must share it
    # (a network file system) or use an object-store adapter behind the MediaStore port.
    media_dir: Path | None = None

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def replica_urls(self) -> list[str]:
        return [u.strip() for u in (self.database_replica_urls or "").split(",") if u.strip()]

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @cached_property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'bazaar.sqlite3').resolve()}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        elif url.startswith("sqlite:///"):
            url = "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
        return url

    @property
    def payment_sandbox_path(self) -> Path:
        value = self.payment_sandbox_database
        if not value:
            return self.data_dir / "sandbox-payments.sqlite3"
        for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
            if value.startswith(prefix):
                return Path(value[len(prefix) :])
        return Path(value)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def rate_limits_enabled(self) -> bool:
        return self.rate_limits.lower() not in {"off", "0", "false", "no"}

    def check_production_safety(self) -> None:
        """Refuse to run in production with the development secret or a public sandbox payment provider;
        refuse a public sandbox without a secret anywhere, and settings that race each other."""
        if self.env == "production" and self.secret_key == "development-only-secret":
            raise SettingsError("BAZAAR_SECRET_KEY must be set in production")
        if self.env == "production" and self.payment_webhook_secret == "development-webhook-secret":
            raise SettingsError("BAZAAR_PAYMENT_WEBHOOK_SECRET must be set in production")
        if self.payment_sandbox_public and self.env == "production":
            raise SettingsError("BAZAAR_PAYMENT_SANDBOX_PUBLIC is a development tool and is refused in production")
        if self.payment_sandbox_public and len(self.payment_sandbox_secret or "") < 16:
            raise SettingsError("BAZAAR_PAYMENT_SANDBOX_PUBLIC needs BAZAAR_PAYMENT_SANDBOX_SECRET (16+ characters)")
        self.check_deadlines()

    def check_deadlines(self) -> None:
        """The payment deadline must fit inside the checkout deadline: past the checkout deadline the reconciler
        takes a checkout over, and if that can happen while its request still waits on the provider, the two
        race (a failing provider then answers 409 checkout_expired instead of 503). Likewise a worker's hold on a
        capture it sends must outlast the call."""
        margin = CHECKOUT_DEADLINE_MARGIN_SECONDS
        needed = self.payment_deadline_seconds + margin
        if self.checkout_deadline_seconds < needed:
            raise SettingsError(
                f"BAZAAR_CHECKOUT_DEADLINE_SECONDS ({self.checkout_deadline_seconds:g}) must be at least"
                f" BAZAAR_PAYMENT_DEADLINE_SECONDS ({self.payment_deadline_seconds:g}) + {margin:g}"
                f" s for the steps around the payment call, i.e. {needed:g}: raise the checkout deadline or lower the"
                " payment deadline"
            )
        claim = 2 * self.payment_deadline_seconds + margin
        if self.capture_claim_seconds < claim:
            raise SettingsError(
                f"BAZAAR_CAPTURE_CLAIM_SECONDS ({self.capture_claim_seconds:g}) must be at least twice"
                f" BAZAAR_PAYMENT_DEADLINE_SECONDS ({self.payment_deadline_seconds:g}) + {margin:g} s, i.e. {claim:g}:"
                " a worker holds a capture it takes that long, and one still waiting on the provider when its hold"
                " ends could be sent again by another worker"
            )
