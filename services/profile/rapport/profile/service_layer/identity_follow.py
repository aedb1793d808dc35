"""Following identity: its WatchChanges stream applied to the profiles, per workspace,
from a cursor stored in profile's database in the transaction that applies a change
(so a restart resumes exactly after the last change applied).

MERGED: the merged customers' events, traits (newest event time wins), counters and
group memberships move to the survivor. UNMERGED: each restored customer takes back
the events carrying its identifiers (as identity split them), traits and memberships
are rebuilt from the events. ERASED: everything held on the customer goes. RULES_UPDATED:
only the identity cache is emptied (answers given under the old rules). Derived
state is brought up to date by ``customer_state.recompute_derived_state``; the cache
is invalidated after commit, so GetProfile shows the change at once (an invalidation
that fails is retried until it succeeds: the change is not applied twice).

A change that cannot be applied (unreadable, or failing again and again) is skipped
and counted, its cursor kept: it never stops the follower. Identity or the database
being away is not such a failure: the follower waits and resumes from its cursor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.profile.adapters.hygiene_repository import cursor_at_or_before
from rapport.profile.adapters.identity_changes import (
    ChangeKind,
    CustomerIdentity,
    IdentityChange,
    IdentityChanges,
)
from rapport.profile.adapters.identity_client import IdentityUnavailable
from rapport.profile.domain.documents import event_from_document
from rapport.profile.domain.ingestion import extract_identifiers
from rapport.profile.domain.model import EventType, Identifier
from rapport.sqlstore import database_unreachable, run_with_retries
from rapport.versionedcache import CacheInvalidationError

from .batch_write import BatchWrite
from .cache_invalidation import fence_before_commit, invalidate_after_commit
from .customer_state import erase_customer, rebuild_from_events, recompute_derived_state
from .dependencies import Dependencies
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)

# Applying one change is tried this many times before it is skipped.
_ATTEMPTS = 3
# CREATED changes change nothing here: their cursor is saved at most this often.
_CURSOR_SAVE_SECONDS = 1.0


@dataclass
class FollowStats:
    applied: int = 0
    # Changes skipped here (unreadable or failing), and those identity reported skipping.
    skipped: int = 0
    skipped_by_identity: int = 0
    reconnects: int = 0


class IdentityFollower:
    """A ServiceParts background task (``run``): one follower per served workspace."""

    def __init__(
        self,
        deps: Dependencies,
        changes: IdentityChanges,
        *,
        min_backoff: float = 0.2,
        max_backoff: float = 30.0,
    ) -> None:
        self._deps = deps
        self._changes = changes
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self.stats = FollowStats()

    async def run(self) -> None:
        await asyncio.gather(*(self._follow(ws) for ws in sorted(self._deps.workspaces)))

    async def _follow(self, workspace: str) -> None:
        backoff = self._min_backoff
        cache = self._deps.identity_cache
        while True:
            try:
                async with self._deps.uow(readonly=True) as uow:
                    cursor = await uow.hygiene.identity_cursor(workspace)
                pending = _PendingCursor(cursor)
                try:
                    async for change in self._changes.watch(workspace, cursor):
                        if change.kind is not ChangeKind.CREATED or change.skipped_before:
                            # Before anything else: no ingest may use an answer the
                            # change made stale from now on.
                            cache.invalidate(workspace)
                        # The stream delivers: identity's answers may be kept.
                        cache.attach(workspace)
                        await self._take(workspace, change, pending)
                        backoff = self._min_backoff
                finally:
                    cache.detach(workspace)
                await pending.flush(self._deps, workspace)
            except IdentityUnavailable as err:
                self.stats.reconnects += 1
                _log.info(
                    "identity changes unavailable: following again from the saved cursor",
                    extra={"workspace": workspace, "error_reason": err.code},
                )
            except Exception as err:  # the database away...
                self.stats.reconnects += 1
                _log.warning(
                    "following identity paused: resuming from the saved cursor",
                    extra={"workspace": workspace, "error_reason": type(err).__name__},
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _take(self, workspace: str, change: IdentityChange, pending: _PendingCursor) -> None:
        self.stats.skipped_by_identity += change.skipped_before
        if change.kind is None:
            self.stats.skipped += 1
            await pending.advance(self._deps, workspace, change.cursor, force=True)
            return
        if change.kind in (ChangeKind.CREATED, ChangeKind.RULES_UPDATED):
            # Nothing stored changes: a creation touches no profile, and new identity
            # rules only made the identity cache stale (emptied in _follow).
            await pending.advance(self._deps, workspace, change.cursor)
            return
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                await self._apply(workspace, change)
            except IdentityUnavailable:
                raise
            except Exception as err:
                if database_unreachable(err) or isinstance(err, CacheInvalidationError):
                    # Not the change's fault (the database, or the cache it must fence,
                    # away): never skipped for it (an erasure or a merge lost for
                    # good). Followed again from the saved cursor.
                    raise
                _log.warning(
                    "applying an identity change failed",
                    extra={
                        "workspace": workspace,
                        "cursor": change.cursor,
                        "attempt": attempt,
                        "error_reason": type(err).__name__,
                    },
                )
                await asyncio.sleep(self._min_backoff * attempt)
                continue
            pending.applied(change.cursor)
            self.stats.applied += 1
            return
        # It fails for good: skipped, counted, never a reason to stop.
        self.stats.skipped += 1
        await pending.advance(self._deps, workspace, change.cursor, force=True)

    async def _apply(self, workspace: str, change: IdentityChange) -> None:
        deps = self._deps
        restored: dict[str, CustomerIdentity | None] = {}
        survivor: CustomerIdentity | None = None
        if change.kind is ChangeKind.UNMERGED:
            survivor = await self._changes.customer(workspace, change.customer_id)
            for other in change.other_customer_ids:
                restored[other] = await self._changes.customer(workspace, other)
        now = deps.clock()

        async def attempt(uow: ProfileUnitOfWork) -> tuple[set[str], int, str | None]:
            # One replica at a time applies a workspace's changes, each once: another
            # replica that already applied this one moved the cursor past it.
            await uow.hygiene.lock_identity_follow(workspace)
            if cursor_at_or_before(change.cursor, await uow.hygiene.identity_cursor(workspace)):
                return set(), 0, None
            if change.kind is ChangeKind.MERGED:
                touched, signals = await _merge(uow, workspace, change, now)
            elif change.kind is ChangeKind.UNMERGED:
                touched, signals = await _unmerge(uow, workspace, change, survivor, restored, now)
            else:
                touched, signals = await _erase(uow, workspace, change, now)
            await uow.hygiene.save_identity_cursor(workspace, change.cursor, now)
            # The cursor moves with this commit: a process killed before the invalidation
            # below would never apply the change again, and replicas would go on serving
            # the profiles from before it (an erased one included) until they expire.
            return touched, signals, await fence_before_commit(deps, workspace, touched)

        # After the batches that arrived before: their events are written first.
        async with deps.arrival_order.ticket() as turn:
            await turn.wait()
            touched, signals, fence = await run_with_retries(deps.uow, attempt)
        if signals:
            deps.notifier.notify()
        await invalidate_after_commit(
            deps,
            workspace,
            touched,
            fence=fence,
            min_backoff=self._min_backoff,
            max_backoff=self._max_backoff,
        )
        _log.info(
            "identity change applied",
            extra={
                "workspace": workspace,
                "customer": change.customer_id,
                "cursor": change.cursor,
                "action": change.kind.value if change.kind else "",
            },
        )


class _PendingCursor:
    """The cursor of changes that need no write (CREATED), saved at most once a second;
    replaying them after a restart changes nothing."""

    def __init__(self, saved: str) -> None:
        self._saved = saved
        self._latest = saved
        self._saved_at = time.monotonic()

    def applied(self, cursor: str) -> None:
        """Saved by the transaction that applied the change."""
        self._saved = self._latest = cursor
        self._saved_at = time.monotonic()

    async def advance(
        self, deps: Dependencies, workspace: str, cursor: str, *, force: bool = False
    ) -> None:
        self._latest = cursor
        if force or time.monotonic() - self._saved_at >= _CURSOR_SAVE_SECONDS:
            await self.flush(deps, workspace)

    async def flush(self, deps: Dependencies, workspace: str) -> None:
        if self._latest == self._saved:
            return
        latest = self._latest

        async def attempt(uow: ProfileUnitOfWork) -> None:
            await uow.hygiene.lock_identity_follow(workspace)
            await uow.hygiene.save_identity_cursor(workspace, latest, deps.clock())

        await run_with_retries(deps.uow, attempt)
        self.applied(latest)


async def _merge(
    uow: ProfileUnitOfWork, workspace: str, change: IdentityChange, now: datetime
) -> tuple[set[str], int]:
    survivor = change.customer_id
    merged = [c for c in change.other_customer_ids if c != survivor]
    # Identity names the survivor as live: an old alias of it is stale.
    await uow.profiles.forget_aliases(workspace, [survivor])
    write = BatchWrite(workspace, now)
    write.merges.update({m: survivor for m in merged})
    # The batch write's merge moves events, traits, counters, memberships and computed
    # traits, and re-evaluates segments and life stages (as for a merge identity
    # reports in an ingest answer).
    await write.run(uow, [], [])
    return write.touched | {survivor, *merged}, write.signal_count


async def _erase(
    uow: ProfileUnitOfWork, workspace: str, change: IdentityChange, now: datetime
) -> tuple[set[str], int]:
    customer = change.customer_id
    erased = await erase_customer(uow, workspace, customer, now)
    return {customer, *erased.merged_customer_ids}, 0


async def _unmerge(
    uow: ProfileUnitOfWork,
    workspace: str,
    change: IdentityChange,
    survivor: CustomerIdentity | None,
    restored: dict[str, CustomerIdentity | None],
    now: datetime,
) -> tuple[set[str], int]:
    kept = change.customer_id
    live = [c for c, found in restored.items() if found is not None]
    await uow.profiles.lock_customers(workspace, [kept, *live])
    await uow.profiles.forget_aliases(workspace, [kept, *live])
    touched = {kept, *restored}
    for customer_id in live:
        found = restored[customer_id]
        assert found is not None
        # Customers merged into a restored one follow it back out.
        for merged in found.merged_customer_ids:
            if merged not in (kept, customer_id):
                await uow.profiles.record_merge(workspace, merged, customer_id, now)
                touched.add(merged)
    if live:
        rows = await uow.hygiene.events_of(workspace, kept)
        kept_keys = _keys(survivor.identifiers) if survivor is not None else set()
        keys = {c: _keys(restored[c].identifiers) for c in live}  # type: ignore[union-attr]
        moves: dict[str, list[int]] = {c: [] for c in live}
        for row in rows:
            carried = _event_keys(row.type, row.message_id, row.document)
            owners = [c for c in live if carried & keys[c]]
            # An event carrying identifiers of several (the one that merged them) stays.
            if len(owners) == 1 and not carried & kept_keys:
                moves[owners[0]].append(row.seq)
        for customer_id, seqs in moves.items():
            await uow.hygiene.move_events(workspace, seqs, customer_id)
        involved = [kept, *live]
        await rebuild_from_events(
            uow,
            workspace,
            {c: await uow.hygiene.events_of(workspace, c) for c in involved},
            now,
        )
        signals = await recompute_derived_state(uow, workspace, involved, now)
        return touched, signals
    return touched, 0


def _normal(identifier: Identifier) -> tuple[str, str]:
    value = identifier.value.strip().casefold()
    if identifier.type == "phone":
        value = "".join(ch for ch in value if ch.isdigit() or ch == "+")
    return identifier.type, value


def _keys(identifiers: Sequence[Identifier]) -> set[tuple[str, str]]:
    return {_normal(i) for i in identifiers}


def _event_keys(event_type: str, message_id: str, document: dict[str, Any]) -> set[tuple[str, str]]:
    try:
        event = event_from_document(document, type=EventType(event_type), message_id=message_id)
        # An alias's previous_id was sent to identity as a user_id or an anonymous_id.
        kinds = ("anonymous_id", "user_id") if event.type is EventType.ALIAS else ("anonymous_id",)
        carried = (extract_identifiers(event, "event", kind) for kind in kinds)
        return {_normal(s.identifier) for found in carried for s in found}
    except Exception:  # a stored event this version cannot read stays where it is
        return set()
