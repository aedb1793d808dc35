"""Date-valued traits, removals as traits of their own, and the arrival order of batches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from rapport.profile.domain.dates import value_time
from rapport.profile.domain.model import EventType, Trait, TraitSource
from rapport.profile.domain.traits import apply_event_traits, merge_traits, remove_traits, visible
from rapport.profile.service_layer.ordering import ArrivalOrder

T0 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T09:30:00Z", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01T09:30:00.123456789+02:00", datetime(2025, 3, 1, 7, 30, 0, 123456, tzinfo=UTC)),
        ("2025-03-01 09:30", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01t09:30:00z", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
    ],
)
def test_dates_and_date_times_name_an_instant(value: str, instant: datetime) -> None:
    assert value_time(value) == instant


@pytest.mark.parametrize(
    "value",
    [
        "20250301",
        "2025-02-30",
        "2025-3-1",
        "March 1st",
        "2025-03-01T25:00",
        20250301,
        None,
        True,
        "2025-03-01" + " " * 40,
        ["2025-03-01"],
    ],
)
def test_other_values_name_none(value: object) -> None:
    assert value_time(value) is None


def test_days_until_can_be_counted_from_the_instant() -> None:
    renewal = value_time("2025-03-31")
    assert renewal is not None and (renewal - datetime(2025, 3, 1, tzinfo=UTC)).days == 30


def origin(minute: int, index: int = 0) -> dict[str, object]:
    return {
        "source_message_id": f"m{minute}",
        "event_time": T0 + timedelta(minutes=minute),
        "received_at": T0,
        "batch_index": index,
        "source": TraitSource(EventType.IDENTIFY, "lib", "1"),
    }


def test_null_is_a_removal_that_wins_and_loses_by_event_time() -> None:
    traits: dict[str, Trait] = {}
    apply_event_traits(traits, {"plan": "pro"}, **origin(1))  # type: ignore[arg-type]
    written, changes = apply_event_traits(traits, {"plan": None}, **origin(5))  # type: ignore[arg-type]
    assert written == ["plan"] and visible(traits) == {}
    [change] = changes
    assert change.removed and change.old_value == "pro" and change.new_value is None
    assert change.source.library_name == "lib"
    # Older than the removal: nothing; newer: set again.
    assert apply_event_traits(traits, {"plan": "free"}, **origin(3)) == ([], [])  # type: ignore[arg-type]
    _, [back] = apply_event_traits(traits, {"plan": "team"}, **origin(9))  # type: ignore[arg-type]
    assert not back.had_old_value and back.new_value == "team"


def test_removing_what_is_not_there_changes_nothing_visible_but_is_kept() -> None:
    traits: dict[str, Trait] = {}
    written, changes = remove_traits(traits, ["x"], now=T0, method="RemoveTraits")
    assert written == ["x"] and changes == [] and traits["x"].removed
    assert traits["x"].source == TraitSource(method="RemoveTraits")


def test_a_merge_carries_removals_too() -> None:
    survivor = {"plan": Trait("pro", "s", T0, T0, 0)}
    merged = {"plan": Trait(None, "m", T0 + timedelta(minutes=1), T0, 0, removed=True)}
    _, [change] = merge_traits(survivor, merged)
    assert change.removed and visible(survivor) == {}


async def test_turns_follow_arrival_even_when_a_batch_gives_up() -> None:
    order = ArrivalOrder()
    done: list[str] = []
    first_may_finish = asyncio.Event()

    async def batch(name: str, *, gives_up: bool = False, hold: asyncio.Event | None = None):
        async with order.ticket() as turn:
            if gives_up:
                return
            if hold is not None:
                await hold.wait()
            await turn.wait()
            done.append(name)

    first = asyncio.create_task(batch("first", hold=first_may_finish))
    await asyncio.sleep(0)
    second = asyncio.create_task(batch("second", gives_up=True))
    await asyncio.sleep(0)
    third = asyncio.create_task(batch("third"))
    await asyncio.sleep(0.05)
    assert done == [] and second.done()  # the third waits for the first, across the gap
    first_may_finish.set()
    await asyncio.wait_for(asyncio.gather(first, third), 2)
    assert done == ["first", "third"]


async def test_a_cancelled_batch_lets_the_next_go() -> None:
    order = ArrivalOrder()
    never = asyncio.Event()

    async def stuck() -> None:
        async with order.ticket():
            await never.wait()

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    task.cancel()
    async with order.ticket() as turn:
        await asyncio.wait_for(turn.wait(), 1)
