"""Contacts counted against the contact limits in Redis, shared by every replica.

One sorted set per customer: members `channel|purpose|decision|action`, scored by
the contact's time in milliseconds. `reserve` checks every limit a new contact
counts against (one decision's send of one action counting once, as in ContactBudget)
and adds the contacts in one Lua script, so two replicas reserving
for one customer at once never exceed a limit. Kept as long as the longest period.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rapport.decisioning.domain.contact_policy import Contact
from rapport.decisioning.domain.model import Channel
from rapport.decisioning.domain.outbound import DependencyError
from rapport.decisioning.domain.policies import ContactLimit
from redis import asyncio as redis_asyncio
from redis.exceptions import RedisError

_FAILURES = (TimeoutError, RedisError, OSError)

# KEYS[1]: the customer's set. ARGV: now (ms), keep (ms), the limits (max, since (ms),
# channel count, channels..., purpose count, purposes...), the new contacts (member,
# channel, purpose). Returns 1 when added, 0 when a limit would be exceeded.
_RESERVE = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local i = 3
local limits = {}
for l = 1, tonumber(ARGV[i]) do
  local limit = {max = tonumber(ARGV[i + 1]), since = ARGV[i + 2], channels = {}, purposes = {}}
  i = i + 3
  for _ = 1, tonumber(ARGV[i]) do i = i + 1; limit.channels[ARGV[i]] = true end
  i = i + 1
  local purposes = tonumber(ARGV[i])
  limit.any = purposes == 0
  for _ = 1, purposes do i = i + 1; limit.purposes[ARGV[i]] = true end
  limits[l] = limit
end
i = i + 1
local function send_of(member)
  -- One decision's send of one action counts once, on however many channels it holds.
  local decision, action = string.match(member, '^[^|]*|[^|]*|([^|]*)|(.*)$')
  if decision == nil or decision == '' then return member end
  return decision .. '|' .. action
end
local new = {}
for n = 1, tonumber(ARGV[i]) do
  new[n] = {member = ARGV[i + 1], channel = ARGV[i + 2], purpose = ARGV[i + 3]}
  i = i + 3
end
local function counts(limit, channel, purpose)
  return limit.channels[channel] and (limit.any or limit.purposes[purpose])
end
for _, limit in ipairs(limits) do
  local mine = false
  for _, contact in ipairs(new) do
    if counts(limit, contact.channel, contact.purpose) then mine = true end
  end
  if mine then
    local sends, used, added = {}, 0, 0
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. limit.since, '+inf')) do
      local channel, purpose = string.match(member, '^([^|]*)|([^|]*)|')
      local send = send_of(member)
      if counts(limit, channel, purpose) and not sends[send] then
        sends[send] = true
        used = used + 1
      end
    end
    for _, contact in ipairs(new) do
      local send = send_of(contact.member)
      if counts(limit, contact.channel, contact.purpose) and not sends[send] then
        sends[send] = true
        added = added + 1
      end
    end
    if used + added > limit.max then return 0 end
  end
end
for _, contact in ipairs(new) do redis.call('ZADD', key, now, contact.member) end
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - keep))
redis.call('PEXPIRE', key, keep)
return 1
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _member(contact: Contact) -> str:
    return "|".join((contact.channel.value, contact.purpose, contact.decision_id, contact.action))


class RedisContactLedger:
    def __init__(self, client: redis_asyncio.Redis, *, key_prefix: str) -> None:
        self._client = client
        self._prefix = key_prefix
        self._reserve = client.register_script(_RESERVE)

    def _key(self, workspace: str, customer: str) -> str:
        # Customer names are opaque ids (no personal data); braces: one cluster slot.
        return f"{self._prefix}contacts:{{{workspace}|{customer}}}"

    async def history(self, workspace: str, customer: str, since: datetime) -> list[Contact]:
        try:
            entries = await self._client.zrangebyscore(
                self._key(workspace, customer), f"({_ms(since)}", "+inf", withscores=True
            )
        except _FAILURES as err:
            raise DependencyError("redis", "UNAVAILABLE", "CONTACT_STORE_UNAVAILABLE") from err
        contacts = []
        for member, score in entries:
            text = member.decode() if isinstance(member, bytes) else member
            channel, purpose, decision_id, action = text.split("|", 3)
            moment = datetime.fromtimestamp(score / 1000, UTC)
            contacts.append(Contact(Channel(channel), purpose, action, moment, decision_id))
        return contacts

    async def reserve(
        self,
        workspace: str,
        customer: str,
        contacts: Sequence[Contact],
        limits: Sequence[ContactLimit],
        now: datetime,
    ) -> bool:
        """Add the contacts unless one more would exceed a limit; True when added."""
        keep = max((limit.period for limit in limits), default=timedelta(0))
        args: list[str | int] = [_ms(now), max(_ms(now) - _ms(now - keep), 1), len(limits)]
        for limit in limits:
            args += [limit.max_contacts, _ms(now - limit.period), len(limit.channels)]
            args += [c.value for c in limit.channels]
            args += [len(limit.purposes), *limit.purposes]
        args.append(len(contacts))
        for contact in contacts:
            args += [_member(contact), contact.channel.value, contact.purpose]
        try:
            added = await self._reserve(keys=[self._key(workspace, customer)], args=args)
        except _FAILURES as err:
            raise DependencyError("redis", "UNAVAILABLE", "CONTACT_STORE_UNAVAILABLE") from err
        return bool(added)

    async def keep_channel(
        self, workspace: str, customer: str, decision_id: str, action: str, channel: Channel
    ) -> bool:
        """Of one decision's contacts about `action`, keep only the one on `channel` (the
        first moved there when none is); True when a contact changed."""
        held = [
            c
            for c in await self.history(workspace, customer, datetime.fromtimestamp(0, UTC))
            if c.decision_id == decision_id and c.action == action
        ]
        if not held or [c.channel for c in held] == [channel]:
            return False
        kept = next((c for c in held if c.channel is channel), None)
        key = self._key(workspace, customer)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                if kept is None:
                    kept = dataclasses.replace(held[0], channel=channel)
                    pipe.zadd(key, {_member(kept): _ms(kept.time)})
                pipe.zrem(key, *(_member(c) for c in held if c.channel is not channel))
                await pipe.execute()
        except _FAILURES as err:
            raise DependencyError("redis", "UNAVAILABLE", "CONTACT_STORE_UNAVAILABLE") from err
        return True

    async def forget(self, workspace: str, customer: str) -> int:
        """Delete the customer's contacts (data subject erasure); how many there were."""
        key = self._key(workspace, customer)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zcard(key)
                pipe.delete(key)
                count, _ = await pipe.execute()
        except _FAILURES as err:
            raise DependencyError("redis", "UNAVAILABLE", "CONTACT_STORE_UNAVAILABLE") from err
        return int(count)

    async def close(self) -> None:
        await self._client.aclose()
