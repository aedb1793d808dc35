from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rapport.consent.adapters.cache import InProcessStateCache, _decode, _encode
from rapport.consent.domain.model import (
    Channel,
    ConsentEntry,
    ConsentKey,
    ConsentState,
    CurrentState,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
KEY = ConsentKey("default", "c1", "marketing", Channel.EMAIL)
ENTRY = ConsentEntry(
    id="r1",
    workspace="default",
    customer_id="c1",
    purpose="marketing",
    channel=Channel.EMAIL,
    state=ConsentState.GRANTED,
    source="web_form",
    notice_version="v2",
    proof="form-17",
    effective_time=NOW - timedelta(days=1),
    record_time=NOW,
    seq=7,
)


async def test_a_stored_state_is_served_until_the_customer_is_invalidated() -> None:
    cache = InProcessStateCache()
    [(hit, version)] = await cache.get_many([KEY], NOW)
    assert hit is None
    await cache.put_many([(KEY, version, CurrentState(ENTRY))], NOW)
    [(hit, _)] = await cache.get_many([KEY], NOW)
    assert hit == CurrentState(ENTRY)

    await cache.invalidate("default", "c1")
    [(hit, _)] = await cache.get_many([KEY], NOW)
    assert hit is None


async def test_a_read_that_raced_with_a_write_is_not_stored() -> None:
    cache = InProcessStateCache()
    [(_, version_before_read)] = await cache.get_many([KEY], NOW)
    await cache.invalidate("default", "c1")  # a write commits while the reader reads
    await cache.put_many([(KEY, version_before_read, CurrentState(ENTRY))], NOW)
    [(hit, _)] = await cache.get_many([KEY], NOW)
    assert hit is None


async def test_a_state_expires_when_an_entry_recorded_ahead_takes_over() -> None:
    cache = InProcessStateCache()
    [(_, version)] = await cache.get_many([KEY], NOW)
    until = NOW + timedelta(minutes=2)
    await cache.put_many([(KEY, version, CurrentState(ENTRY, until))], NOW)
    assert (await cache.get_many([KEY], until - timedelta(microseconds=1)))[0][0] is not None
    assert (await cache.get_many([KEY], until))[0][0] is None


async def test_the_in_process_cache_is_bounded() -> None:
    cache = InProcessStateCache(max_entries=10)
    keys = [ConsentKey("default", f"c{i}", "marketing", Channel.SMS) for i in range(25)]
    lookups = await cache.get_many(keys, NOW)
    await cache.put_many(
        [
            (key, version, CurrentState(None))
            for key, (_, version) in zip(keys, lookups, strict=True)
        ],
        NOW,
    )
    hits = [state for state, _ in await cache.get_many(keys, NOW) if state is not None]
    assert len(hits) == 10


def test_redis_values_round_trip_only_under_their_version() -> None:
    state = CurrentState(ENTRY, NOW + timedelta(minutes=1))
    raw = _encode(state, "v-abc")
    assert _decode(raw, "v-abc") == state
    assert _decode(raw, "v-other") is None
    assert _decode(_encode(CurrentState(None), "v"), "v") == CurrentState(None)
    assert _decode("not json", "v") is None


def test_entries_with_values_this_version_cannot_read_round_trip() -> None:
    unreadable = CurrentState(replace(ENTRY, channel=None, state=None))
    assert _decode(_encode(unreadable, "v"), "v") == unreadable
    # Written by a newer version sharing the Redis keys: read leniently, not as a miss.
    newer = _encode(CurrentState(ENTRY), "v").replace('"granted"', '"paused"')
    decoded = _decode(newer, "v")
    assert decoded is not None and decoded.entry is not None and decoded.entry.state is None
