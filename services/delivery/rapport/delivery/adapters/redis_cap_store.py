"""Frequency-cap counts in Redis, shared by every replica (whatever their databases).

Per customer and rule, a sorted set of the message ids counted, scored by the time
they were cleared (ms): `{prefix}{<workspace>:<customer>}:<rule key>`. The braces are
a hash tag: one customer's sets live in one cluster slot, so one Lua script checks
and counts under all of them atomically. Sets expire a window after their last
change; entries older than the window are dropped as they are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rapport.delivery.domain.frequency_caps import CapCheck, CapRule, CapVerdict
from rapport.groupcommit import GroupCommit
from redis import asyncio as redis_asyncio
from redis.exceptions import RedisError

from .cap_store import CapStore, CapStoreUnavailable, Reservation

# KEYS: the rules' sets (n of them), then the sets of the purpose's rules on other
# channels. ARGV: message id, now (ms), n, then window (ms) and limit per rule.
# Returns [] when counted, else [rule index (1-based), counted, room time (ms)] per
# full rule (nothing counted then).
_RESERVE = """
local message, now, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = n + 1, #KEYS do
  redis.call('ZREM', KEYS[i], message)
end
local full = {}
for i = 1, n do
  local window, limit = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  redis.call('ZREM', KEYS[i], message)
  local counted = redis.call('ZCARD', KEYS[i])
  if counted >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], counted - limit, counted - limit, 'WITHSCORES')
    table.insert(full, i)
    table.insert(full, counted)
    table.insert(full, tonumber(oldest[2]) + window)
  end
end
if #full > 0 then
  return full
end
for i = 1, n do
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', KEYS[i], now, message)
  redis.call('PEXPIRE', KEYS[i], window)
end
return full
"""


def _ms(value: datetime | timedelta) -> int:
    if isinstance(value, timedelta):
        return int(value.total_seconds() * 1000)
    return int(value.timestamp() * 1000)


# Reservation script calls sent together in one pipeline at most.
RESERVE_BATCH = 256

_Call = tuple[list[str], list[str | int]]


class RedisCapStore(CapStore):
    """Concurrent reservations go to Redis in one pipeline (group commit): each is still
    its own script call, atomic for its customer, run in the order asked."""

    def __init__(
        self, client: redis_asyncio.Redis, *, key_prefix: str, linger: float = 0.0
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self._reserve = client.register_script(_RESERVE)
        self._calls: GroupCommit[_Call, Any] = GroupCommit(RESERVE_BATCH, linger=linger)

    async def _run_batch(self, calls: Sequence[_Call]) -> list[Any]:
        if len(calls) == 1:
            keys, args = calls[0]
            try:
                return [await self._reserve(keys=keys, args=args)]
            except (RedisError, OSError, TimeoutError) as err:
                return [CapStoreUnavailable(type(err).__name__)]
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    await self._reserve(keys=keys, args=args, client=pipe)
                answers = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError, TimeoutError) as err:
            return [CapStoreUnavailable(type(err).__name__)] * len(calls)
        return [
            CapStoreUnavailable(type(answer).__name__)
            if isinstance(answer, BaseException)
            else answer
            for answer in answers
        ]

    def _key(self, workspace: str, customer_id: str, rule: CapRule) -> str:
        return f"{self._prefix}{{{workspace}:{customer_id}}}:{rule.key}"

    async def reserve(
        self, reservation: Reservation, rules: Sequence[CapRule], others: Sequence[CapRule]
    ) -> CapVerdict:
        r = reservation
        keys = [self._key(r.workspace, r.customer_id, rule) for rule in (*rules, *others)]
        if not keys:
            return CapVerdict()
        args: list[str | int] = [r.message_id, _ms(r.time), len(rules)]
        for rule in rules:
            args += [_ms(rule.window), rule.limit]
        answer = await self._calls.submit((keys, args), self._run_batch)
        full = [
            CapCheck(
                rules[int(answer[i]) - 1],
                int(answer[i + 1]),
                datetime.fromtimestamp(int(answer[i + 2]) / 1000, UTC),
            )
            for i in range(0, len(answer), 3)
        ]
        return CapVerdict(tuple(full))

    async def release(
        self, message_id: str, workspace: str, customer_id: str, rules: Sequence[CapRule]
    ) -> None:
        if not rules:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for rule in rules:
                    pipe.zrem(self._key(workspace, customer_id, rule), message_id)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as err:
            raise CapStoreUnavailable(type(err).__name__) from err

    async def close(self) -> None:
        await self._client.aclose()
