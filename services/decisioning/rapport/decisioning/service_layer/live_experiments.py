"""Each workspace's experiments, cached per process for the pipeline's experiment step.

Experiments are not part of the versioned configuration: they take effect at once
on the replica that created or deleted them, on the others within `refresh_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rapport.decisioning.domain.experiments import Experiment

from .per_workspace import PerWorkspace
from .unit_of_work import DecisioningUnitOfWork


class LiveExperiments(PerWorkspace[tuple[Experiment, ...]]):
    """Each workspace's experiments, re-read after `refresh_seconds`."""

    def __init__(
        self,
        uow: Callable[..., DecisioningUnitOfWork],
        refresh_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        async def load(
            workspace: str, previous: tuple[Experiment, ...] | None
        ) -> tuple[Experiment, ...]:
            async with uow(readonly=True) as unit:
                return tuple(await unit.experiments.all(workspace))

        super().__init__(load, refresh_seconds, monotonic=monotonic)
