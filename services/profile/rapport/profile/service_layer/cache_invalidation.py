"""Cached profiles invalidated after a background job's commit, whatever it takes.

A job (identity's changes, segment and life-stage evaluation, backfills, the hygiene
sweeps) does not run its committed work again: if it gave up on an invalidation that
failed (Redis away a moment), GetProfile would answer from before the change until the
entries expire. So it waits, retrying with backoff, until the invalidation succeeds.
(A request's own invalidation failing fails the request instead: its client retries.)

Nor can a job whose process dies between its commit and that invalidation (kill -9,
OOM) invalidate later: each fences the customers it changed in its transaction, one
fence per transaction (a chunk's), and hands the fence to the invalidation. A fence
that cannot be taken rolls the transaction back: the job does the work at its next
round (segments, life stages and backfills are due again at once, the hygiene sweep
finds the same events and customers again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from rapport.profile.adapters.profile_cache import customer_scope
from rapport.versionedcache import CacheInvalidationError

from .dependencies import Dependencies

_log = logging.getLogger(__name__)


async def fence_before_commit(
    deps: Dependencies, workspace: str, customers: Iterable[str]
) -> str | None:
    """Called in the job's transaction, before its commit: until the invalidation after
    it (or the fence's lapse, if the process dies in between: kill -9), the customers'
    cached profiles are not served. Raises CacheInvalidationError (nothing committed:
    the job's work is done again later)."""
    # Scopes made lazily: the in-process cache and no cache never read them (nothing to
    # fence there), so a chunk of a million customers costs them nothing; Redis reads
    # them once and calls no script when there are none.
    return await deps.profile_cache.fence(customer_scope(workspace, c) for c in customers)


async def invalidate_after_commit(
    deps: Dependencies,
    workspace: str,
    customers: Iterable[str],
    *,
    fence: str | None = None,
    min_backoff: float = 0.2,
    max_backoff: float = 30.0,
) -> None:
    """Invalidate the customers' cached profiles, retrying until it succeeds (`fence`:
    the one fence_before_commit gave)."""
    scopes = {customer_scope(workspace, c) for c in customers}
    if not scopes:
        return
    backoff = min_backoff
    while True:
        try:
            await deps.profile_cache.invalidate(scopes, fence=fence)
            return
        except CacheInvalidationError as err:
            _log.warning(
                "profile cache invalidation failed after a commit: retrying",
                extra={"workspace": workspace, "error_reason": err.cause_name},
            )
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)
