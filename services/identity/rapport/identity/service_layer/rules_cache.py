"""Each workspace's identity rules, cached per process (re-read every couple of seconds)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from rapport.identity.domain.deduplication import Thresholds
from rapport.identity.domain.rules import IdentityRules

from .unit_of_work import IdentityUnitOfWork

_log = logging.getLogger(__name__)

# Replicas pick up another replica's update within this many seconds.
MAX_AGE_SECONDS = 2.0


class RulesCache:
    """Each workspace's rules (its stored ones, else ``defaults``), re-read when older
    than ``max_age`` seconds."""

    def __init__(
        self,
        uow_factory: Callable[..., IdentityUnitOfWork],
        defaults: IdentityRules,
        *,
        default_phone_region: str,
        max_age: float = MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow_factory = uow_factory
        self.defaults = defaults
        self._region = default_phone_region
        self._max_age = max_age
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, IdentityRules]] = {}
        self._warned: set[tuple[str, datetime | None]] = set()
        warn_unusable_patterns(defaults, workspace="")

    async def get(self, workspace: str) -> IdentityRules:
        entry = self._entries.get(workspace)
        now = self._monotonic()
        if entry is not None and now - entry[0] < self._max_age:
            return entry[1]
        async with self._uow_factory(readonly=True) as uow:
            rules = await self.read(uow, workspace)
        self._entries[workspace] = (now, rules)
        return rules

    async def read(self, uow: IdentityUnitOfWork, workspace: str) -> IdentityRules:
        """The workspace's rules as stored in ``uow`` (the defaults if it has none)."""
        stored = await uow.rules.get(workspace, default_phone_region=self._region)
        if stored is not None and (workspace, stored.update_time) not in self._warned:
            self._warned.add((workspace, stored.update_time))  # once per stored version
            warn_unusable_patterns(stored, workspace=workspace)
        return stored or self.defaults

    def put(self, workspace: str, rules: IdentityRules) -> None:
        self._entries[workspace] = (self._monotonic(), rules)

    async def thresholds(self, workspace: str) -> Thresholds:
        """The workspace's matching thresholds (its identity rules, defaults filled in)."""
        matching = (await self.get(workspace)).matching
        defaults = Thresholds()
        return Thresholds(
            merge=matching.merge_threshold or defaults.merge,
            review=matching.review_threshold or defaults.review,
        )


def warn_unusable_patterns(rules: IdentityRules, *, workspace: str) -> None:
    """Log each blocked pattern RE2 cannot run (stored before RE2): it blocks nothing
    until an administrator replaces it with UpdateIdentityRules."""
    for rule in rules.identifier_types:
        for index, reason in rule.unusable_patterns:
            _log.warning(
                "blocked pattern ignored: RE2 cannot run it",
                extra={
                    "workspace": workspace or "(defaults)",
                    "field": f"identifier_types[{rule.type}].blocked_patterns[{index}]",
                    "error_reason": reason,
                },
            )
