"""The live configuration of each workspace, cached per process.

A cached version is trusted for `refresh_seconds`; then one cheap query (the live
version's number) tells whether another replica published, and only a new number
loads the new version. The replica that publishes forgets its copy at once, so it
decides with the new version from its next decision on; the others within
`refresh_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from rapport.decisioning.domain.config import DecisionConfig

from .unit_of_work import DecisioningUnitOfWork


@dataclass(frozen=True)
class _Entry:
    config: DecisionConfig
    checked_at: float


class LiveConfigs:
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
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, workspace: str) -> DecisionConfig | None:
        entry = self._entries.get(workspace)
        if entry is not None and self._monotonic() - entry.checked_at < self._refresh:
            return entry.config
        return None

    async def get(self, workspace: str) -> DecisionConfig:
        """The live version (an empty configuration with the default settings before the
        first publication)."""
        config = self._fresh(workspace)
        if config is not None:
            return config
        # One reader per workspace: the others wait and take what it found.
        async with self._locks.setdefault(workspace, asyncio.Lock()):
            config = self._fresh(workspace)
            if config is not None:
                return config
            cached = self._entries.get(workspace)
            async with self._uow(readonly=True) as uow:
                number = await uow.versions.live_number(workspace)
                if cached is not None and cached.config.version == number:
                    config = cached.config
                elif number:
                    config = await uow.versions.config(workspace, number)
            config = config or DecisionConfig(workspace)
            self._entries[workspace] = _Entry(config, self._monotonic())
            return config

    def forget(self, workspace: str) -> None:
        """Read the live version again on the next decision (this process published)."""
        self._entries.pop(workspace, None)
