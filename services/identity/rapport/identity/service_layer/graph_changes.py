"""What a unit of work changed in the identity graph, and the one place it goes once committed.

Graph writers (Resolve, BatchResolve, merges, UnmergeCustomer, EraseCustomer) record
their changes on ``uow.changes``; once the unit has committed, the unit of work hands
them to its ``after_commit`` hook, ``PublishGraphChanges`` (wired in bootstrap). That
hook is the only place committed changes reach the identifier cache and the
WatchChanges streams: once per unit of work, so once per call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapport.commitwatch import CommitNotifier
from rapport.identity.adapters.cache import CacheInvalidationError, IdentifierCache
from rapport.identity.domain.model import Identifier

_log = logging.getLogger(__name__)


@dataclass
class GraphChanges:
    """Collected while a unit of work runs; published only if it commits."""

    # Per workspace: identifiers now on another customer, or erased (cached mappings die).
    moved: dict[str, set[Identifier]] = field(default_factory=dict)
    # The change log grew: WatchChanges streams of this process wake up.
    logged: bool = False

    def record(self, workspace: str, moved: Iterable[Identifier], *, logged: bool) -> None:
        identifiers = set(moved)
        if identifiers:
            self.moved.setdefault(workspace, set()).update(identifiers)
        self.logged = self.logged or logged

    def __bool__(self) -> bool:
        return self.logged or bool(self.moved)


class PublishGraphChanges:
    """The after-commit hook: wake WatchChanges streams, then forget moved mappings.

    Runs after the commit and before the call is acknowledged, so replicas stop
    trusting old mappings before the client hears of the change. A failed
    invalidation only costs speed, never correctness: every cache hit is checked
    against the customer's identifiers read from the database (the answer needs
    that read anyway), so a mapping that outlived its change is never served.
    """

    def __init__(self, cache: IdentifierCache, change_notifier: CommitNotifier) -> None:
        self._cache = cache
        self._change_notifier = change_notifier

    async def __call__(self, changes: GraphChanges) -> None:
        if changes.logged:
            self._change_notifier.notify()
        for workspace, identifiers in changes.moved.items():
            try:
                await self._cache.invalidate(workspace, identifiers)
            except CacheInvalidationError as exc:
                _log.warning(
                    "identity cache invalidation failed; cached lookups are re-checked",
                    extra={
                        "workspace": workspace,
                        "count": len(identifiers),
                        "error_reason": str(exc),
                    },
                )
