"""A value per workspace, kept in this process and read again after `refresh_seconds`.

The live configuration, the models and the experiments of a workspace are all read
this way: trusted for `refresh_seconds`, then read again by one reader per workspace
(the others wait and take what it read). `load` gets the previous value, so it can
keep it when a cheap check says nothing changed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class PerWorkspace(Generic[V]):
    def __init__(
        self,
        load: Callable[[str, V | None], Awaitable[V]],
        refresh_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._entries: dict[str, tuple[V, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, workspace: str) -> tuple[V, float] | None:
        entry = self._entries.get(workspace)
        if entry is not None and self._monotonic() - entry[1] < self._refresh:
            return entry
        return None

    async def get(self, workspace: str) -> V:
        entry = self._fresh(workspace)
        if entry is not None:
            return entry[0]
        async with self._locks.setdefault(workspace, asyncio.Lock()):
            entry = self._fresh(workspace)
            if entry is not None:
                return entry[0]
            previous = self._entries.get(workspace)
            value = await self._load(workspace, previous[0] if previous else None)
            self._entries[workspace] = (value, self._monotonic())
            return value

    def forget(self, workspace: str) -> None:
        """Read the workspace's value again on the next `get` (this process changed it)."""
        self._entries.pop(workspace, None)
