"""The flash-sale waiting room in Redis: one sorted set of waiting tickets per sale, scored by arrival.

The score is when the join request reached the web process (µs, `web/arrival.py`), so a request that waited
inside a busy process keeps its turn; joins are numbered (`INCR`) in the order Redis took them.

Every step is one Lua script, so joins from any number of web processes get one global arrival order
(`INCR`), a buyer has one live ticket however many devices join at once, and admissions pop the
earliest tickets exactly once. All keys of a sale share the hash tag `{<sale id>}` (one Redis Cluster
slot) and expire a day after the sale's end. Timestamps are milliseconds since the epoch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bazaar.flash_sales.ports import Place, RoomCounts
from bazaar.kernel.errors import DependencyUnavailable
from bazaar.kernel.ids import new_id

# KEYS: seq, waiting (ticket -> seq), seen (waiting ticket -> last look), admitted (ticket -> until),
#       used (set), status, buyer_of, until_of, seq_of (hashes by ticket), buyers (buyer -> ticket), stats
_KEYS = ("seq", "waiting", "seen", "admitted", "used", "status", "buyer_of", "until_of", "seq_of", "buyers", "stats")

_PLACE = """
local function place(t)
  local st = redis.call('HGET', KEYS[6], t)
  if not st then return false end
  local pos = 0
  if st == 'waiting' then pos = redis.call('ZRANK', KEYS[2], t) + 1 end
  return {t, redis.call('HGET', KEYS[7], t), redis.call('HGET', KEYS[9], t), st, pos,
          redis.call('HGET', KEYS[8], t) or ''}
end
"""

JOIN = (
    _PLACE
    + """
local buyer, fresh, now, keep, arrived = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local t = redis.call('HGET', KEYS[10], buyer)
if t then
  local st = redis.call('HGET', KEYS[6], t)
  if st == 'waiting' then
    redis.call('ZADD', KEYS[3], now, t)
    return place(t)
  end
  if st == 'admitted' and tonumber(redis.call('HGET', KEYS[8], t) or '0') > now then return place(t) end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[6], fresh, 'waiting')
redis.call('HSET', KEYS[7], fresh, buyer)
redis.call('HSET', KEYS[9], fresh, seq)
redis.call('ZADD', KEYS[2], arrived, fresh)
redis.call('ZADD', KEYS[3], now, fresh)
redis.call('HSET', KEYS[10], buyer, fresh)
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], keep) end
return place(fresh)
"""
)

LOOK = (
    _PLACE
    + """
local t, now = ARGV[1], tonumber(ARGV[2])
local st = redis.call('HGET', KEYS[6], t)
if st == 'waiting' then redis.call('ZADD', KEYS[3], 'XX', now, t) end
if st == 'admitted' and tonumber(redis.call('HGET', KEYS[8], t) or '0') <= now then
  redis.call('HSET', KEYS[6], t, 'expired')
end
return place(t)
"""
)

LEAVE = """
local t = ARGV[1]
local st = redis.call('HGET', KEYS[6], t)
if st ~= 'waiting' and st ~= 'admitted' then return 0 end
redis.call('ZREM', KEYS[2], t)
redis.call('ZREM', KEYS[3], t)
redis.call('ZREM', KEYS[4], t)
redis.call('HSET', KEYS[6], t, 'left')
local buyer = redis.call('HGET', KEYS[7], t)
if buyer and redis.call('HGET', KEYS[10], buyer) == t then redis.call('HDEL', KEYS[10], buyer) end
return 1
"""

ADMIT = """
local count, now, untl, idle = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local function drop(t, status)
  redis.call('HSET', KEYS[6], t, status)
  local buyer = redis.call('HGET', KEYS[7], t)
  if buyer and redis.call('HGET', KEYS[10], buyer) == t then redis.call('HDEL', KEYS[10], buyer) end
end
for _, t in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', idle, 'LIMIT', 0, 5000)) do
  redis.call('ZREM', KEYS[2], t)
  redis.call('ZREM', KEYS[3], t)
  drop(t, 'expired')
end
for _, t in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 5000)) do
  redis.call('ZREM', KEYS[4], t)
  if redis.call('SISMEMBER', KEYS[5], t) == 0 then redis.call('HINCRBY', KEYS[11], 'lapsed', 1) end
  if redis.call('HGET', KEYS[6], t) == 'admitted' then drop(t, 'expired') end
end
local out = {}
if count > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], count)
  for i = 1, #popped, 2 do
    local t = popped[i]
    redis.call('ZREM', KEYS[3], t)
    redis.call('HSET', KEYS[6], t, 'admitted')
    redis.call('HSET', KEYS[8], t, untl)
    redis.call('ZADD', KEYS[4], untl, t)
    redis.call('HINCRBY', KEYS[11], 'admitted', 1)
    table.insert(out, {t, redis.call('HGET', KEYS[7], t), redis.call('HGET', KEYS[9], t)})
  end
end
return out
"""

USED = """
if redis.call('SADD', KEYS[5], ARGV[1]) == 1 then redis.call('ZREM', KEYS[4], ARGV[1]) end
return 1
"""

COUNTS = """
local stats = redis.call('HMGET', KEYS[11], 'admitted', 'lapsed')
return {redis.call('ZCARD', KEYS[2]), redis.call('ZCOUNT', KEYS[4], '(' .. ARGV[1], '+inf'),
        tonumber(stats[1] or '0'), redis.call('SCARD', KEYS[5]), tonumber(stats[2] or '0')}
"""


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: Any) -> datetime | None:
    text = ms.decode() if isinstance(ms, bytes) else str(ms or "")
    return datetime.fromtimestamp(int(text) / 1000, tz=UTC) if text else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _place(row: Any) -> Place | None:
    if not row:
        return None
    ticket, buyer, seq, status, position, until = row
    return Place(_text(ticket), _text(buyer), int(seq), _text(status), int(position), _at(until))


class RedisWaitingRoom:
    def __init__(self, client: Redis, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._join = client.register_script(JOIN)
        self._look = client.register_script(LOOK)
        self._leave = client.register_script(LEAVE)
        self._admit = client.register_script(ADMIT)
        self._used = client.register_script(USED)
        self._counts = client.register_script(COUNTS)

    def _keys(self, sale_id: str) -> list[str]:
        return [f"{self.prefix}fs:{{{sale_id}}}:{name}" for name in _KEYS]

    async def _run(self, script: Any, sale_id: str, *args: Any) -> Any:
        try:
            return await script(keys=self._keys(sale_id), args=list(args))
        except RedisError as exc:
            raise DependencyUnavailable("the waiting room is unavailable; try again shortly") from exc

    async def join(
        self, sale_id: str, buyer_id: str, *, now: datetime, keep_seconds: int, arrived: datetime | None = None
    ) -> Place:
        arrival = int((arrived or now).timestamp() * 1_000_000)  # µs: the order requests reached the server
        place = _place(await self._run(self._join, sale_id, buyer_id, new_id(), _ms(now), keep_seconds * 1000, arrival))
        assert place is not None
        return place

    async def look(self, sale_id: str, ticket_id: str, *, now: datetime) -> Place | None:
        return _place(await self._run(self._look, sale_id, ticket_id, _ms(now)))

    async def leave(self, sale_id: str, ticket_id: str) -> None:
        await self._run(self._leave, sale_id, ticket_id)

    async def admit(
        self, sale_id: str, count: int, *, now: datetime, until: datetime, idle_before: datetime
    ) -> list[Place]:
        rows = await self._run(self._admit, sale_id, count, _ms(now), _ms(until), _ms(idle_before))
        return [Place(_text(t), _text(b), int(_text(s)), "admitted", 0, until) for t, b, s in rows]

    async def mark_used(self, sale_id: str, ticket_id: str) -> None:
        await self._run(self._used, sale_id, ticket_id)

    async def counts(self, sale_id: str, *, now: datetime) -> RoomCounts:
        waiting, outstanding, admitted, used, lapsed = await self._run(self._counts, sale_id, _ms(now))
        return RoomCounts(int(waiting), int(outstanding), int(admitted), int(used), int(lapsed))

    async def close(self) -> None:
        await self.client.aclose()
