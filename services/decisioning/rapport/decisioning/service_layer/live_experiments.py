"""Each workspace's experiments, cached per process for the pipeline's experiment step.

Experiments are not part of the versioned configuration: they take effect at once
on the replica that created or deleted them, on the others within `refresh_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rapport.decisioning.domain.experiments import Experiment

from .unit_of_work import DecisioningUnitOfWork


class LiveExperiments:
    """Each workspace's experiments, re-read after `refresh_seconds`."""

    def __init__(
        self,
        uow: Callable[..., DecisioningUnitOfWork],
        refresh_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._entries: dict[str, tuple[tuple[Experiment, ...], float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, workspace: str) -> tuple[Experiment, ...] | None:
        entry = self._entries.get(workspace)
        if entry is not None and self._monotonic() - entry[1] < self._refresh:
            return entry[0]
        return None

    async def get(self, workspace: str) -> tuple[Experiment, ...]:
        found = self._fresh(workspace)
        if found is not None:
            return found
        async with self._locks.setdefault(workspace, asyncio.Lock()):
            found = self._fresh(workspace)
            if found is not None:
                return found
            async with self._uow(readonly=True) as uow:
                found = tuple(await uow.experiments.all(workspace))
            self._entries[workspace] = (found, self._monotonic())
            return found

    def forget(self, workspace: str) -> None:
        self._entries.pop(workspace, None)
