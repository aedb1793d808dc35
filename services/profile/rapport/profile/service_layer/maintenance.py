"""Background upkeep: message ids older than the de-duplication window are pruned.

Nothing is kept in memory: after a restart the next round finds whatever expired
meanwhile. Replicas may prune at the same time; PostgreSQL's advisory lock lets one
of them do a round while the others skip it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from .dependencies import Dependencies

_log = logging.getLogger(__name__)


async def prune_message_ids(deps: Dependencies, *, chunk: int) -> int:
    """Delete every message id record older than the window, ``chunk`` rows per
    transaction (so a large backlog never holds locks long); how many."""
    cutoff = deps.clock() - deps.dedup_window
    total = 0
    while True:
        async with deps.uow() as uow:
            if not await uow.profiles.try_lock_pruning():
                return total  # another replica is pruning
            deleted = await uow.profiles.prune_message_ids(cutoff, chunk)
            await uow.commit()
        total += deleted
        if deleted < chunk:
            return total
        await asyncio.sleep(0)  # let requests in between chunks


def message_id_pruner(
    deps: Dependencies, *, every: timedelta, chunk: int
) -> Callable[[], Awaitable[None]]:
    """A background task for ServiceParts: a round at start, then one every ``every``."""

    async def prune_forever() -> None:
        while True:
            try:
                pruned = await prune_message_ids(deps, chunk=chunk)
                if pruned:
                    _log.info("message ids pruned", extra={"count": pruned})
            except Exception:
                # A failed round (database briefly away) is retried at the next one.
                _log.exception("pruning message ids failed")
            await asyncio.sleep(every.total_seconds())

    return prune_forever
