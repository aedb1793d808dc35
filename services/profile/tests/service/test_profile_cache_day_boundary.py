"""GetProfile's cache and time: a cached profile with computed traits is served only
until the next UTC midnight, when days leave the traits' windows and their values move
without any write (in-process cache, and the Redis codec keeps that moment); a hit
answers the bytes kept, encoded once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.profile.adapters import profile_cache
from rapport.profile.domain.computed import Kind, next_day_start
from rapport.profile.domain.model import EventType, IncomingEvent, ProfileView
from rapport.profile.service_layer import commands, computed_traits, ingestion, queries
from rapport.profile.service_layer.dependencies import Dependencies

from .._profile_support import DomainEncoder, decoded_view
from .test_profile_handlers import make_deps

PARENT = "workspaces/default"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def timed(tmp_path: Path) -> AsyncIterator[tuple[Dependencies, Clock]]:
    deps, engine = await make_deps(tmp_path)
    clock = Clock(datetime(2026, 3, 10, 22, 0, tzinfo=UTC))
    yield replace(deps, clock=clock, profile_cache=profile_cache.in_process_cache(100)), clock
    await engine.dispose()


def order(message_id: str, at: datetime) -> IncomingEvent:
    return IncomingEvent(
        type=EventType.TRACK,
        message_id=message_id,
        user_id="u1",
        event="Order Completed",
        original_time=at,
        sent_time=at,
    )


async def test_computed_values_move_at_midnight_without_a_write(
    timed: tuple[Dependencies, Clock],
) -> None:
    deps, clock = timed
    await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(PARENT, "orders", Kind.COUNT, 1, "Order Completed", {}, ""),
        deps,
    )
    [result] = await ingestion.ingest_events(
        commands.IngestEvents(PARENT, [order("m1", clock.now)]), deps
    )
    name = f"workspaces/default/customers/{result.customer_id}/profile"
    first = await queries.get_profile(commands.GetProfile(name), deps)
    assert decoded_view(first).computed_traits == {"orders": 1}
    _, valid_until = first
    assert valid_until == datetime(2026, 3, 11, tzinfo=UTC)

    clock.now += timedelta(hours=1, minutes=59)  # 23:59: still the same day
    assert (await queries.get_profile(commands.GetProfile(name), deps)) is first

    clock.now += timedelta(minutes=2)  # 00:01 the next day: the 1-day window moved on
    later = await queries.get_profile(commands.GetProfile(name), deps)
    assert decoded_view(later).computed_traits == {"orders": 0}
    _, valid_until = later
    assert valid_until == datetime(2026, 3, 12, tzinfo=UTC)


async def test_without_computed_traits_a_profile_does_not_expire(
    timed: tuple[Dependencies, Clock],
) -> None:
    deps, clock = timed
    [result] = await ingestion.ingest_events(
        commands.IngestEvents(PARENT, [order("m1", clock.now)]), deps
    )
    name = f"workspaces/default/customers/{result.customer_id}/profile"
    first = await queries.get_profile(commands.GetProfile(name), deps)
    _, valid_until = first
    assert valid_until is None
    clock.now += timedelta(days=3)
    assert (await queries.get_profile(commands.GetProfile(name), deps)) is first


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)
    )
)
def test_next_day_start_is_the_following_utc_midnight(now: datetime) -> None:
    start = next_day_start(now)
    assert start > now
    assert start - now <= timedelta(days=1)
    assert (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0)


async def test_the_redis_codec_keeps_the_moment(timed: tuple[Dependencies, Clock]) -> None:
    deps, clock = timed
    await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(PARENT, "orders", Kind.COUNT, 7, "Order Completed", {}, ""),
        deps,
    )
    [result] = await ingestion.ingest_events(
        commands.IngestEvents(PARENT, [order("m1", clock.now)]), deps
    )
    name = f"workspaces/default/customers/{result.customer_id}/profile"
    encoded = await queries.get_profile(commands.GetProfile(name), deps)
    body, valid_until = encoded
    assert valid_until is not None
    assert profile_cache._loads(profile_cache._dumps(encoded)) == encoded
    plain = (body, None)
    assert profile_cache._loads(profile_cache._dumps(plain)) == plain


@pytest.mark.parametrize("text", ["", "no separator", "2026-03-11T00:00:00+00:00|not base64!"])
def test_the_redis_codec_refuses_what_it_did_not_write(text: str) -> None:
    with pytest.raises(ValueError):
        profile_cache._loads(text)


class CountingEncoder(DomainEncoder):
    def __init__(self) -> None:
        self.profiles = 0

    def profile(self, view: ProfileView) -> bytes:
        self.profiles += 1
        return super().profile(view)


async def test_a_hit_answers_the_bytes_kept(timed: tuple[Dependencies, Clock]) -> None:
    deps, clock = timed
    encoder = CountingEncoder()
    deps = replace(deps, encoder=encoder)
    [result] = await ingestion.ingest_events(
        commands.IngestEvents(PARENT, [order("m1", clock.now)]), deps
    )
    name = f"workspaces/default/customers/{result.customer_id}/profile"
    first = await queries.get_profile(commands.GetProfile(name), deps)
    assert (await queries.get_profile(commands.GetProfile(name), deps)) is first
    assert encoder.profiles == 1
    uncached = replace(deps, profile_cache=profile_cache.no_cache())
    assert decoded_view(first) == decoded_view(
        await queries.get_profile(commands.GetProfile(name), uncached)
    )
