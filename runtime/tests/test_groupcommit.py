"""rapport.groupcommit: callers' items handled together, each answered on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from rapport.groupcommit import GroupCommit


async def test_items_asked_together_go_in_one_batch_each_answered_alone() -> None:
    batches: list[list[int]] = []

    async def handle(items: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(items))
        await asyncio.sleep(0)
        return [ValueError(item) if item == 3 else item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(max_batch=4)
    answers = await asyncio.gather(
        *(group.submit(n, handle) for n in range(6)), return_exceptions=True
    )
    assert answers[:3] == [0, 10, 20] and answers[4:] == [40, 50]
    assert isinstance(answers[3], ValueError)  # that item alone fails
    # The first batch takes what waited (up to 4), the rest the next one.
    assert batches == [[0, 1, 2, 3], [4, 5]]
    # An item asked while a batch is on its way waits for the next batch.
    first = asyncio.ensure_future(group.submit(7, handle))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(group.submit(8, handle))
    assert await first == 70 and await second == 80
    assert batches[-2:] == [[7], [8]]


async def test_a_failing_batch_fails_its_callers_and_not_the_next() -> None:
    calls = 0

    async def handle(items: Sequence[str]) -> list[str | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return list(items)

    group: GroupCommit[str, str] = GroupCommit()
    failed = await asyncio.gather(group.submit("a", handle), return_exceptions=True)
    assert isinstance(failed[0], ConnectionError)
    assert await group.submit("b", handle) == "b"


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        GroupCommit(max_batch=0)
    with pytest.raises(ValueError):
        GroupCommit(linger=1.0)
