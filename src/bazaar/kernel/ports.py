"""Ports: the Protocols behind which external systems sit; adapters implement them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bazaar.kernel.money import Money
from bazaar.kernel.payments import CardDetails, ProviderResult


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...
    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        """Set the key only if it holds nothing; answers whether this call set it."""
        ...

    async def delete(self, *keys: str) -> None: ...
    async def incr_window(self, key: str, window_seconds: int) -> tuple[int, int]:
        """Count one hit in a fixed window; answers (hits so far, seconds until the window ends)."""
        ...

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


Loader = Callable[[], Awaitable[bytes]]


class PlainStatements(Protocol):
    """PostgreSQL statements run straight on the driver, each its own transaction (autocommit), for the few
    hot paths where the ORM's cost per statement would be most of the work."""

    async def fetch(self, query: str, *args: Any) -> list[Mapping[str, Any]]: ...
    async def close(self) -> None: ...


class PaymentGateway(Protocol):
    """A card payment provider. Every call carries an idempotency key: repeating a call with the same key
    never acts twice and answers what the first call answered.

    Definitive answers (approved or refused) come back as a ProviderResult. `deadline` is the number of
    seconds the call may take, retries included (None: the configured default). When it runs out the call
    raises ProviderUnavailable if the provider surely did not act (server errors, refused connections), or
    PaymentOutcomeUnknown if it may have (a timeout): then ask `lookup` before deciding anything.
    """

    async def authorize(
        self, *, idempotency_key: str, amount: Money, card: CardDetails, deadline: float | None = None
    ) -> ProviderResult: ...

    async def capture(
        self, *, idempotency_key: str, provider_payment_id: str, amount: Money, deadline: float | None = None
    ) -> ProviderResult: ...

    async def void(
        self, *, idempotency_key: str, provider_payment_id: str, deadline: float | None = None
    ) -> ProviderResult: ...

    async def refund(
        self, *, idempotency_key: str, provider_payment_id: str, amount: Money, deadline: float | None = None
    ) -> ProviderResult: ...

    async def transfer(
        self, *, idempotency_key: str, destination: str, amount: Money, deadline: float | None = None
    ) -> ProviderResult:
        """Pay `amount` out of the marketplace's balance to a bank account (a seller's payout)."""
        ...

    async def submit_dispute_evidence(
        self, *, idempotency_key: str, provider_dispute_id: str, text: str, deadline: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Answer a dispute with evidence; (HTTP status, the provider's dispute or error). 409: already decided."""
        ...

    async def lookup(self, *, idempotency_key: str, deadline: float | None = None) -> ProviderResult | None:
        """What the provider did with the call made under this key; None if it never acted on it."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ConsumerLag:
    """How far one consumer group is behind on one stream."""

    stream: str
    group: str
    pending: int  # delivered but not yet acknowledged (in flight or waiting to be retried)
    lag: int | None  # published but not yet delivered; None when the backend cannot tell


@dataclass(frozen=True)
class EventStreamStats:
    backlog: int  # outbox rows not yet published
    dead_letters: int
    consumers: tuple[ConsumerLag, ...]


@dataclass(frozen=True)
class DeadLetter:
    """An event a consumer gave up on; kept for inspection and replay."""

    consumer: str
    event_id: str
    topic: str
    key: str
    payload: dict[str, Any]
    error: str
    deliveries: int


class EventStream(Protocol):
    """Carries committed outbox events to every subscribed consumer, at least once, in per-key order;
    consumers stay exactly-once through the inbox. Both methods do one bounded round of work."""

    async def relay(self) -> int:
        """Publish one batch of committed outbox events to the stream; answers how many."""
        ...

    async def join(self) -> None:
        """This node starts: prepare its per-node consumers (before its copies catch up from the database)."""
        ...

    async def consume(self) -> int:
        """Deliver published events to the consumers; answers how many deliveries were settled
        (handled, skipped as already handled, or dead-lettered), so 0 means idle or waiting to retry."""
        ...

    async def stats(self) -> EventStreamStats: ...
    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest first."""
        ...

    async def close(self) -> None: ...


class SoldOutFlags(Protocol):
    """A cheap, possibly stale "this offer has no free units" hint; the database stays the truth."""

    async def is_sold_out(self, offer_id: str) -> bool: ...
    async def sold_out_of(self, offer_ids: Sequence[str]) -> set[str]:
        """Those of these offers flagged sold out, asked in one go (a cart's lines: one round trip, not one each)."""
        ...

    async def mark_sold_out(self, offer_id: str, ttl_seconds: float) -> None: ...
    async def clear(self, *offer_ids: str) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class StoredCart:
    """A cart as the active-cart store holds it; `version` only grows, so an older copy never wins."""

    cart_id: str
    version: int
    user_id: str | None
    status: str
    lines: tuple[StoredCartLine, ...]


@dataclass(frozen=True)
class StoredCartLine:
    item_id: str
    offer_id: str
    quantity: int
    price_at_add_amount: int
    currency: str


class CartStore(Protocol):
    """Where active carts are read from; the database is always written too (the durable copy)."""

    async def load(self, cart_id: str) -> StoredCart | None:
        """The held copy, or None when this store does not hold the cart (read the database)."""
        ...

    async def save(self, cart: StoredCart) -> None:
        """Keep `cart` unless a copy with a higher version is already held."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class OutgoingMail:
    """One email ready to hand to a mail server: the envelope and the RFC 5322 bytes."""

    mail_id: str
    sender: str
    recipient: str
    data: bytes


class PermanentDeliveryFailure(Exception):
    """The mail server refused this email for good (a 5xx: unknown mailbox, rejected content): do not retry."""


class MailTransport(Protocol):
    """Hands emails to a mail server (SMTP) or a development sink (.eml files)."""

    async def send(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        """Try each email once; answers, per email in order, None when the server accepted it, else the
        error (PermanentDeliveryFailure when retrying is pointless). Never raises for one email's sake."""
        ...

    async def close(self) -> None: ...


class MediaStore(Protocol):
    """Where image files live, by content-addressed key ("<sha256>.webp"). The filesystem under the data dir
    by default; an object store (S3 and the like) plugs in here for a cluster whose nodes share no disk."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`; storing the same key again is harmless (the same content)."""
        ...

    async def get(self, key: str) -> bytes | None: ...
    async def delete(self, key: str) -> None: ...
