"""Background upkeep: forget idempotency keys past their window, frequency-cap counts
past every window, and provider events held past theirs (early_events.py). Every
replica may run it: deleting what is expired is the same whoever does it first."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from .dependencies import Dependencies
from .early_events import prune_expired_events

_log = logging.getLogger(__name__)

# Keys deleted per transaction: a short one, whatever the backlog.
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class Pruned:
    idempotency_keys: int
    cap_counts: int
    early_events: int = 0


async def prune_expired(deps: Dependencies) -> Pruned:
    """Once: delete every expired idempotency key (in batches), cap count and held
    provider event."""
    now = deps.clock()
    made_before = now - deps.policy.idempotency_window
    keys = 0
    while True:
        async with deps.uow_factory() as uow:
            removed = await uow.idempotency_keys.prune(made_before=made_before, limit=PRUNE_BATCH)
            await uow.commit()
        keys += removed
        if removed < PRUNE_BATCH:
            break
    counts = 0
    longest = deps.policy.caps.longest_window
    if deps.caps is not None and longest:
        counts = await deps.caps.prune(now - longest)
    events = await prune_expired_events(deps)
    return Pruned(idempotency_keys=keys, cap_counts=counts, early_events=events)


class Maintenance:
    """Runs prune_expired every `interval_seconds` (a background component)."""

    def __init__(self, deps: Dependencies, *, interval_seconds: float) -> None:
        self._deps = deps
        self._interval = interval_seconds

    async def run(self) -> None:
        while True:
            try:
                pruned = await prune_expired(self._deps)
            except Exception as err:
                # The next round tries again; expiry never depends on pruning.
                _log.error(
                    "pruning expired keys failed", extra={"error_reason": type(err).__name__}
                )
            else:
                for resource, count in (
                    ("idempotency_keys", pruned.idempotency_keys),
                    ("cap_counts", pruned.cap_counts),
                    ("early_provider_events", pruned.early_events),
                ):
                    if count:
                        _log.info("pruned expired", extra={"resource": resource, "count": count})
            await asyncio.sleep(self._interval)
