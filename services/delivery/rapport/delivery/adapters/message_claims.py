"""Claiming due messages: each leased to one dispatcher, its attempt counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from rapport.delivery.domain.model import PENDING_STATES, Channel, Message, MessageState
from sqlalchemy import Integer, String, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .message_rows import to_message
from .tables import messages

# Only these are claimed: a message on a channel a newer version added waits for a
# replica of that version instead of being failed by this one. Empty: a best-channel
# message whose channel is not chosen yet.
_KNOWN_CHANNELS = [channel.value for channel in Channel]
_CLAIMABLE_CHANNELS = [*_KNOWN_CHANNELS, ""]
_PENDING = [state.value for state in PENDING_STATES]

# The claim's statements, built once (the dispatcher claims many times a second): a
# message is claimable when pending, on a channel this version knows (or none yet), due,
# and not leased (or its lease expired) at `c_now`.
_CLAIM_NOW = bindparam("c_now", type_=messages.c.next_attempt_time.type)
_CLAIMABLE = and_(
    messages.c.state.in_(_PENDING),
    messages.c.channel.in_(_CLAIMABLE_CHANNELS),
    messages.c.next_attempt_time <= _CLAIM_NOW,
    or_(messages.c.lease_expire_time.is_(None), messages.c.lease_expire_time <= _CLAIM_NOW),
)
_CLAIM_ANY = (
    select(messages.c.id)
    .where(_CLAIMABLE)
    .order_by(messages.c.next_attempt_time)
    .limit(bindparam("c_room", type_=Integer))
    .with_for_update(skip_locked=True)
)
_CLAIM_LANE = (
    select(messages.c.id)
    .where(_CLAIMABLE, messages.c.channel == bindparam("c_lane", type_=String))
    .order_by(messages.c.next_attempt_time)
    .limit(bindparam("c_room", type_=Integer))
    .with_for_update(skip_locked=True)
)
# Every lane at once (the usual case under load), with each candidate's lane.
_CLAIM_LANES = (
    select(messages.c.id, messages.c.channel)
    .where(_CLAIMABLE, messages.c.channel.in_(bindparam("c_lanes", expanding=True)))
    .order_by(messages.c.next_attempt_time)
    .limit(bindparam("c_room", type_=Integer))
    .with_for_update(skip_locked=True)
)
# The UPDATE re-checks the lease condition: of two dispatchers racing, one claims.
_CLAIM = (
    update(messages)
    .where(messages.c.id.in_(bindparam("c_ids", expanding=True)), _CLAIMABLE)
    .values(
        lease_token=bindparam("c_token", type_=String),
        lease_expire_time=bindparam("c_expire", type_=messages.c.lease_expire_time.type),
        attempt_count=messages.c.attempt_count + 1,
        state=MessageState.SENDING.value,
    )
    .returning(*messages.c)
)


async def claim_due(
    conn: AsyncConnection,
    *,
    now: datetime,
    limit: int,
    lease_token: str,
    lease_expire_time: datetime,
    lanes: Mapping[str, int] | None = None,
) -> list[Message]:
    """Lease up to `limit` due messages, count the attempt and mark them SENDING;
    returns the claimed ones.

    `lanes` (channel value, "" for best-channel messages not on a channel yet ->
    at most that many) limits the claim per channel; None: any known channel.
    The UPDATE re-checks the lease condition, so of two dispatchers racing for a
    message exactly one claims it; on PostgreSQL the candidates are also locked
    FOR UPDATE SKIP LOCKED so racing replicas take different ones instead of
    waiting on each other (SQLite has one writer at a time: the unit of work's
    write lock). Messages on a channel this version does not know are left to
    replicas of the version that wrote them. Held (SCHEDULED) messages are claimed
    once their release time came: the hold is stored, so it survives restarts,
    and the lease makes one replica release it.
    """
    wanted = (
        [(None, limit)]
        if lanes is None
        else [(lane, min(room, limit)) for lane, room in lanes.items() if room > 0]
    )
    candidates: list[str] = []
    if len(wanted) > 1:
        # One query for every lane (the oldest due first) instead of one per lane,
        # kept when no lane got more than its room (always so when each has room for
        # the whole claim; a lane short of room seldom has more due than it takes);
        # otherwise each lane is asked on its own below.
        every = {"c_now": now, "c_room": limit, "c_lanes": [lane for lane, _ in wanted]}
        due = (await conn.execute(_CLAIM_LANES, every)).all()
        rooms = dict(wanted)
        per_lane = Counter(lane for _, lane in due)
        if all(count <= rooms[lane] for lane, count in per_lane.items()):
            candidates = [message_id for message_id, _ in due]
            wanted = []
    for lane, room in wanted:
        room = min(room, limit - len(candidates))
        if room <= 0:
            break
        if lane is None:
            query, params = _CLAIM_ANY, {"c_now": now, "c_room": room}
        else:
            query, params = _CLAIM_LANE, {"c_now": now, "c_room": room, "c_lane": lane}
        candidates += (await conn.execute(query, params)).scalars().all()
    if not candidates:
        return []
    rows = (
        (
            await conn.execute(
                _CLAIM,
                {
                    "c_now": now,
                    "c_ids": candidates,
                    "c_token": lease_token,
                    "c_expire": lease_expire_time,
                },
            )
        )
        .mappings()
        .all()
    )
    return sorted((to_message(row) for row in rows), key=lambda m: m.next_attempt_time)
