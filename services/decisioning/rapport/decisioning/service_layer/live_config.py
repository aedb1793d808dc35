"""The live configuration of each workspace, cached per process.

A cached version is trusted for `refresh_seconds`; then one cheap query (the live
version's number) tells whether another replica published, and only a new number
loads the new version. The replica that publishes forgets its copy at once, so it
decides with the new version from its next decision on; the others within
`refresh_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rapport.decisioning.domain.config import DecisionConfig

from .per_workspace import PerWorkspace
from .unit_of_work import DecisioningUnitOfWork


class LiveConfigs(PerWorkspace[DecisionConfig]):
    """The live version of each workspace (an empty configuration with the default
    settings before the first publication)."""

    def __init__(
        self,
        uow: Callable[..., DecisioningUnitOfWork],
        refresh_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        async def load(workspace: str, previous: DecisionConfig | None) -> DecisionConfig:
            async with uow(readonly=True) as unit:
                number = await unit.versions.live_number(workspace)
                if previous is not None and previous.version == number:
                    return previous
                if number:
                    config = await unit.versions.config(workspace, number)
                    if config is not None:
                        return config
            return DecisionConfig(workspace)

        super().__init__(load, refresh_seconds, monotonic=monotonic)
