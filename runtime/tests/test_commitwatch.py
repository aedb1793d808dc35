import asyncio

import pytest
from rapport.commitwatch import CommitNotifier, close_at_stop


async def test_a_commit_between_read_and_wait_is_not_lost() -> None:
    notifier = CommitNotifier()
    ticket = notifier.ticket()  # taken before reading the log
    notifier.notify()  # a commit lands while the watcher reads
    await asyncio.wait_for(notifier.wait(ticket, seconds=5), 1)
    assert ticket.is_set()
    assert not notifier.ticket().is_set()  # the next ticket waits for the next commit


async def test_wait_returns_after_the_poll_interval_without_commits() -> None:
    notifier = CommitNotifier()
    ticket = notifier.ticket()
    await notifier.wait(ticket, seconds=0.01)
    assert not ticket.is_set()


async def test_close_at_stop_wakes_watchers_when_cancelled() -> None:
    notifier = CommitNotifier()
    ticket = notifier.ticket()
    task = asyncio.create_task(close_at_stop(notifier)())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert notifier.closed and ticket.is_set()


async def test_a_cancel_that_comes_as_the_ticket_is_set_still_cancels() -> None:
    """Python 3.11's asyncio.wait_for returned normally when its task was cancelled in
    the moment the awaited event was set: a watching stream cancelled then went on."""
    notifier = CommitNotifier()
    ticket = notifier.ticket()
    waiting = asyncio.create_task(notifier.wait(ticket, 10.0))
    await asyncio.sleep(0.01)
    notifier.notify()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
