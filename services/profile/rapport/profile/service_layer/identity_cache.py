"""Identity's answers remembered in-process: the identifiers of an event -> its customer.

Only answers that identity would give again without writing anything are kept: every
identifier linked to the customer, nothing merged, nothing rejected. Such an answer
stays true until identity's graph changes around the customer (a merge, an unmerge,
an erasure) or its identity rules change, which the identity follower reports: each
such change (and anything the follower cannot read) empties the workspace's entries.
The cache serves a workspace only while its follower is following (from the first
change it received until its stream ends), entries expire after ``ttl_seconds``
whatever happens (a backstop), and an answer obtained before an invalidation is never
stored after it (generations).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable


class IdentityCache:
    def __init__(
        self,
        *,
        max_entries: int = 200_000,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, dict[Hashable, tuple[str, float]]] = {}
        self._generations: dict[str, int] = {}
        self._following: set[str] = set()

    # -- the identity follower ---------------------------------------------------

    def attach(self, workspace: str) -> None:
        """The follower receives the workspace's changes: answers may be kept."""
        self._following.add(workspace)

    def detach(self, workspace: str) -> None:
        """The follower stopped (stream ended or failed): forget and keep nothing."""
        self._following.discard(workspace)
        self.invalidate(workspace)

    def invalidate(self, workspace: str) -> None:
        """Identity's graph changed: every entry of the workspace goes."""
        self._generations[workspace] = self._generations.get(workspace, 0) + 1
        self._entries.pop(workspace, None)

    # -- ingestion -----------------------------------------------------------------

    def generation(self, workspace: str) -> int:
        """Taken before asking identity; put_many keeps answers only if still current."""
        return self._generations.get(workspace, 0)

    def get(self, workspace: str, key: Hashable) -> str | None:
        if workspace not in self._following:
            return None
        entries = self._entries.get(workspace)
        found = entries.get(key) if entries else None
        if found is None:
            return None
        customer_id, expires = found
        if expires < self._clock():
            del entries[key]  # type: ignore[union-attr]
            return None
        return customer_id

    def put_many(
        self, workspace: str, generation: int, answers: Iterable[tuple[Hashable, str]]
    ) -> None:
        if workspace not in self._following or generation != self.generation(workspace):
            return
        entries = self._entries.setdefault(workspace, {})
        expires = self._clock() + self._ttl
        for key, customer_id in answers:
            if len(entries) >= self._max_entries:
                entries.clear()
            entries[key] = (customer_id, expires)
