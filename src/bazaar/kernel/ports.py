"""Ports: the Protocols behind which external systems sit; adapters implement them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bazaar.kernel.money import Money
from bazaar.kernel.payments import CardDetails, ProviderResult


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def incr_window(self, key: str, window_seconds: int) -> tuple[int, int]:
        """Count one hit in a fixed window; answers (hits so far, seconds until the window ends)."""
        ...

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


Loader = Callable[[], Awaitable[bytes]]


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

    async def lookup(self, *, idempotency_key: str, deadline: float | None = None) -> ProviderResult | None:
        """What the provider did with the call made under this key; None if it never acted on it."""
        ...

    async def close(self) -> None: ...
