"""Active-cart stores: none (the database serves every read) or Redis (a hash per cart, newest version wins)."""

from __future__ import annotations

import json

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bazaar.kernel.ports import StoredCart, StoredCartLine

# Replace the cart only if the held copy is older; a slow writer or reader can never put back stale lines.
_SAVE_IF_NEWER = """
local held = redis.call('HGET', KEYS[1], 'version')
if held and tonumber(held) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class DatabaseOnlyCartStore:
    """The embedded default: the carts tables are the only copy, so every read goes to the database."""

    async def load(self, cart_id: str) -> StoredCart | None:
        return None

    async def save(self, cart: StoredCart) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisCartStore:
    """Active carts in Redis; a miss or an outage falls back to the database, which is always written first."""

    def __init__(self, client: Redis, *, prefix: str, ttl_seconds: int = 14 * 24 * 3600) -> None:
        self.client = client
        self.prefix = prefix + "cart:"
        self.ttl_ms = ttl_seconds * 1000
        self._save = client.register_script(_SAVE_IF_NEWER)

    async def load(self, cart_id: str) -> StoredCart | None:
        try:
            fields = await self.client.hgetall(self.prefix + cart_id)
        except RedisError:
            return None
        if not fields:
            return None
        data = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
        lines = tuple(
            StoredCartLine(**json.loads(value)) for key, value in sorted(data.items()) if key.startswith("line:")
        )
        user = data.get("user_id", b"")
        return StoredCart(
            cart_id=cart_id,
            version=int(data["version"]),
            user_id=(user.decode() if isinstance(user, bytes) else user) or None,
            status=_text(data.get("status", b"active")),
            lines=lines,
        )

    async def save(self, cart: StoredCart) -> None:
        args: list[str | int] = [cart.version, self.ttl_ms, "version", cart.version]
        args += ["user_id", cart.user_id or "", "status", cart.status]
        for line in cart.lines:
            value = {
                "item_id": line.item_id,
                "offer_id": line.offer_id,
                "quantity": line.quantity,
                "price_at_add_amount": line.price_at_add_amount,
                "currency": line.currency,
            }
            # Keyed by creation order (item ids sort by time) so lines come back in the order they were added.
            args += [f"line:{line.item_id}", json.dumps(value)]
        try:
            await self._save(keys=[self.prefix + cart.cart_id], args=args)
        except RedisError:
            return  # the database already holds this version; the next read repopulates

    async def close(self) -> None:
        await self.client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
