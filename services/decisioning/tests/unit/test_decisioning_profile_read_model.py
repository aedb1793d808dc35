"""Decide's profile cache: kept while profile's signals are followed, dropped by a signal
of the customer, by the validity bound, by a broken stream, by an erasure here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from rapport.decisioning.domain.model import Signal
from rapport.decisioning.domain.outbound import DependencyError
from rapport.decisioning.service_layer.profile_read_model import ProfileReadModel
from rapport.grpctesting import eventually

from .._decisioning_fakes import FakeProfileClient

WORKSPACE = "default"
ALICE = "workspaces/default/customers/alice"
BOB = "workspaces/default/customers/bob"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def signal(cursor: int, customer: str, *, skipped: int = 0) -> Signal:
    return Signal(cursor=str(cursor), customer=customer, event=None, skipped_before=skipped)


async def following(
    profile: FakeProfileClient, clock: Clock | None = None
) -> tuple[ProfileReadModel, asyncio.Task[None]]:
    model = ProfileReadModel(profile, [WORKSPACE], 5.0, monotonic=clock or Clock())
    task = asyncio.create_task(model.follow(WORKSPACE))
    await eventually(lambda: model.following(WORKSPACE))
    return model, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_asks_profile_every_time_while_not_following() -> None:
    profile = FakeProfileClient()
    profile.traits[ALICE] = {"plan": "gold"}
    model = ProfileReadModel(profile, [WORKSPACE], 5.0)
    for _ in range(3):
        found = await model.get_profile(WORKSPACE, ALICE)
        assert found is not None and found.traits["plan"] == "gold"
    assert profile.get_profile_calls == 3


async def test_kept_until_a_signal_of_the_customer() -> None:
    profile = FakeProfileClient()
    profile.traits[ALICE] = {"plan": "gold"}
    profile.traits[BOB] = {"plan": "basic"}
    model, task = await following(profile)
    try:
        await model.get_profile(WORKSPACE, ALICE)
        await model.get_profile(WORKSPACE, BOB)
        await model.get_profile(WORKSPACE, ALICE)
        assert profile.get_profile_calls == 2

        profile.traits[ALICE] = {"plan": "platinum"}
        profile.append(signal(1, ALICE))
        await eventually(lambda: ALICE not in model._profiles)
        found = await model.get_profile(WORKSPACE, ALICE)
        assert found is not None and found.traits["plan"] == "platinum"
        # Bob's profile is still the kept one.
        await model.get_profile(WORKSPACE, BOB)
        assert profile.get_profile_calls == 3
    finally:
        await stop(task)


async def test_validity_bound() -> None:
    profile = FakeProfileClient()
    profile.traits[ALICE] = {"plan": "gold"}
    clock = Clock()
    model, task = await following(profile, clock)
    try:
        await model.get_profile(WORKSPACE, ALICE)
        clock.now += 4.9
        await model.get_profile(WORKSPACE, ALICE)
        assert profile.get_profile_calls == 1
        clock.now += 0.2  # 5.1 s after it was read
        profile.traits[ALICE] = {"plan": "silver"}
        found = await model.get_profile(WORKSPACE, ALICE)
        assert found is not None and found.traits["plan"] == "silver"
        assert profile.get_profile_calls == 2
    finally:
        await stop(task)


async def test_no_profile_and_failures_are_not_kept() -> None:
    profile = FakeProfileClient()
    model, task = await following(profile)
    try:
        assert await model.get_profile(WORKSPACE, ALICE) is None
        profile.traits[ALICE] = {"plan": "gold"}
        assert await model.get_profile(WORKSPACE, ALICE) is not None
        model.forget(ALICE)
        profile.fail_get_with = DependencyError("profile", "UNAVAILABLE")
        with pytest.raises(DependencyError):
            await model.get_profile(WORKSPACE, ALICE)
    finally:
        await stop(task)


async def test_a_skipped_signal_drops_the_workspace() -> None:
    profile = FakeProfileClient()
    profile.traits[ALICE] = {"plan": "gold"}
    model, task = await following(profile)
    try:
        await model.get_profile(WORKSPACE, ALICE)
        profile.append(signal(1, BOB, skipped=2))
        await eventually(lambda: ALICE not in model._profiles)
    finally:
        await stop(task)


async def test_a_signal_during_the_read_keeps_nothing() -> None:
    profile = FakeProfileClient()
    profile.traits[ALICE] = {"plan": "gold"}
    model, task = await following(profile)
    release = asyncio.Event()
    plain = profile.get_profile

    async def slow(customer: str):  # type: ignore[no-untyped-def]
        answer = await plain(customer)
        await release.wait()
        return answer

    profile.get_profile = slow  # type: ignore[method-assign]
    try:
        reading = asyncio.create_task(model.get_profile(WORKSPACE, ALICE))
        await eventually(lambda: ALICE in model._reading)
        profile.append(signal(1, ALICE))
        await eventually(lambda: ALICE in model._dropped_while_reading)
        release.set()
        await reading
        assert ALICE not in model._profiles
        assert not model._reading and not model._dropped_while_reading
    finally:
        await stop(task)


class BrokenProfile(FakeProfileClient):
    """A stream that fails at once (profile down, or no WatchSignals)."""

    def __init__(self) -> None:
        super().__init__()
        self.watches = 0

    async def watch_signals(self, workspace: str, start_cursor: str) -> AsyncIterator[Signal]:
        self.watches += 1
        self.watch_cursors.append(start_cursor)
        raise DependencyError("profile", "UNIMPLEMENTED")
        yield  # pragma: no cover


async def test_broken_stream_asks_profile_every_time() -> None:
    profile = BrokenProfile()
    profile.traits[ALICE] = {"plan": "gold"}
    model = ProfileReadModel(profile, [WORKSPACE], 5.0, retry_seconds=0.01)
    task = asyncio.create_task(model.follow(WORKSPACE))
    try:
        await eventually(lambda: profile.watches >= 2)
        for _ in range(3):
            await model.get_profile(WORKSPACE, ALICE)
        assert profile.get_profile_calls == 3
        assert not model._profiles
    finally:
        await stop(task)


async def test_resumes_after_the_last_signal_seen_and_drops_what_was_kept() -> None:
    profile = FakeProfileClient()
    profile.traits[ALICE] = {"plan": "gold"}
    model = ProfileReadModel(profile, [WORKSPACE], 5.0, retry_seconds=0.01)
    profile.append(signal(7, BOB))
    ends = 0
    plain = profile.watch_signals

    async def ending(workspace: str, start_cursor: str) -> AsyncIterator[Signal]:
        nonlocal ends
        async for item in plain(workspace, start_cursor):
            yield item
            if ends == 0:
                ends += 1
                return  # the stream ends once after its first signal

    profile.watch_signals = ending  # type: ignore[method-assign]
    task = asyncio.create_task(model.follow(WORKSPACE, "3"))
    try:
        await eventually(lambda: len(profile.watch_cursors) >= 2)
        assert profile.watch_cursors[:2] == ["3", "7"]
        await eventually(lambda: model.following(WORKSPACE))
        await model.get_profile(WORKSPACE, ALICE)
        assert ALICE in model._profiles
    finally:
        await stop(task)
    # Stopped following: nothing kept, profile asked again.
    assert not model.following(WORKSPACE) and not model._profiles


async def test_oldest_read_goes_first_beyond_the_limit() -> None:
    profile = FakeProfileClient()
    customers = [f"workspaces/default/customers/c{n}" for n in range(3)]
    for customer in customers:
        profile.traits[customer] = {"n": 1}
    model = ProfileReadModel(profile, [WORKSPACE], 5.0, max_profiles=2)
    task = asyncio.create_task(model.follow(WORKSPACE))
    await eventually(lambda: model.following(WORKSPACE))
    try:
        for customer in customers:
            await model.get_profile(WORKSPACE, customer)
        assert list(model._profiles) == customers[1:]
    finally:
        await stop(task)
