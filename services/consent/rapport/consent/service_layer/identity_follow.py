"""Following identity: its WatchChanges stream applied to consent's customer aliases, per
workspace, from a cursor stored in consent's database.

MERGED: each merged customer answers as the survivor from then on (an alias; its
entries stay where they were recorded). UNMERGED: the restored customers' aliases go,
so the answers split back exactly. CREATED, ERASED and RULES_UPDATED change nothing
here (the ledger is the proof of what each customer said, kept through identity's own
erasure; a data subject request's erasure deletes it: subject_request_worker.py).

When a merge or an unmerge turns a customer's answer for a (purpose, channel) from
granted to denied, a notice is appended to the ledger for that customer (an entry with
derived_from set): WatchConsentRecords streams it and delivery cancels the customer's
queued messages; checks and lists never read it.

Order per change: the aliases and notices are committed, the cache entries of every
customer whose answer may have changed are invalidated, and only then is the cursor
saved. Applying a change again changes nothing (after a crash in between, or on two
replicas). A change that cannot be read or keeps failing is skipped, logged and
counted, its cursor saved: it never stops the follower. Identity, the database or the
cache being away is not such a failure: the follower waits (backoff) and resumes from
the stored cursor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from rapport.consent.adapters.aliases import Group, cursor_at_or_before
from rapport.consent.adapters.identity_changes import (
    ChangeKind,
    IdentityChange,
    IdentityChanges,
    IdentityUnavailable,
)
from rapport.consent.domain.model import (
    Channel,
    ConsentDecision,
    ConsentEntry,
    ConsentState,
    answers_now,
)
from rapport.sqlstore import database_unreachable, run_with_retries

from .dependencies import Dependencies
from .unit_of_work import ConsentUnitOfWork

_log = logging.getLogger(__name__)

# Applying one change is tried this many times before it is skipped.
_ATTEMPTS = 3
# Changes that need no write (CREATED...): their cursor is saved at most this often.
_CURSOR_SAVE_SECONDS = 1.0


class _Transient(Exception):
    """Not the change's fault (the database or the cache away): retry it later."""


@dataclass
class FollowStats:
    applied: int = 0
    skipped: int = 0
    notices: int = 0
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
        while True:
            try:
                async with self._deps.uow_factory(readonly=True) as uow:
                    cursor = await uow.aliases.identity_cursor(workspace)
                saved_at = time.monotonic()
                async for change in self._changes.watch(workspace, cursor):
                    if change.kind in (ChangeKind.MERGED, ChangeKind.UNMERGED):
                        await self._take(workspace, change)
                        saved_at = time.monotonic()
                    elif change.kind is None or time.monotonic() - saved_at >= _CURSOR_SAVE_SECONDS:
                        # Unreadable (logged by the adapter, counted here), or nothing to
                        # apply (replaying those after a restart changes nothing): only the
                        # cursor moves.
                        if change.kind is None:
                            self.stats.skipped += 1
                        await self._save_cursor(workspace, change.cursor)
                        saved_at = time.monotonic()
                    backoff = self._min_backoff
            except IdentityUnavailable as err:
                self.stats.reconnects += 1
                _log.info(
                    "identity changes unavailable: following again from the saved cursor",
                    extra={"workspace": workspace, "error_reason": err.code},
                )
            except Exception as err:  # the database or the cache away...
                self.stats.reconnects += 1
                _log.warning(
                    "following identity paused: resuming from the saved cursor",
                    extra={"workspace": workspace, "error_reason": type(err).__name__},
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _take(self, workspace: str, change: IdentityChange) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                touched = await self._apply(workspace, change)
                break
            except Exception as err:
                if database_unreachable(err):
                    raise _Transient(type(err).__name__) from err
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
        else:
            # It fails for good: skipped, counted, never a reason to stop.
            self.stats.skipped += 1
            await self._save_cursor(workspace, change.cursor)
            return
        try:
            for customer_id in sorted(touched):
                await self._deps.cache.invalidate(workspace, customer_id)
        except Exception as err:
            raise _Transient("CACHE_INVALIDATION_FAILED") from err
        await self._save_cursor(workspace, change.cursor)
        self.stats.applied += 1
        _log.info(
            "identity change applied",
            extra={
                "workspace": workspace,
                "customer": change.customer_id,
                "cursor": change.cursor,
                "action": change.kind.value if change.kind else "",
            },
        )

    async def _apply(self, workspace: str, change: IdentityChange) -> set[str]:
        """Commit the aliases and notices of a change; the customers whose answers may
        have changed (to invalidate in the cache)."""
        deps = self._deps
        involved = {change.customer_id, *change.other_customer_ids}

        async def attempt(uow: ConsentUnitOfWork) -> tuple[set[str], int]:
            await uow.aliases.lock_follow(workspace)
            if cursor_at_or_before(change.cursor, await uow.aliases.identity_cursor(workspace)):
                return set(), 0  # another replica applied it
            now = deps.clock()
            before = await uow.aliases.groups(workspace, involved)
            if change.kind is ChangeKind.MERGED:
                await uow.aliases.merge(
                    workspace, change.other_customer_ids, change.customer_id, now
                )
            else:
                await uow.aliases.forget(workspace, change.other_customer_ids)
            after = await uow.aliases.groups(workspace, involved)
            return await _notify_denials(uow, workspace, change, before, after, deps)

        touched, notices = await run_with_retries(deps.uow_factory, attempt)
        if notices:
            self.stats.notices += notices
            deps.notifier.notify()
        return touched

    async def _save_cursor(self, workspace: str, cursor: str) -> None:
        deps = self._deps

        async def attempt(uow: ConsentUnitOfWork) -> None:
            await uow.aliases.lock_follow(workspace)
            if not cursor_at_or_before(cursor, await uow.aliases.identity_cursor(workspace)):
                await uow.aliases.save_identity_cursor(workspace, cursor, deps.clock())

        await run_with_retries(deps.uow_factory, attempt)


async def _notify_denials(
    uow: ConsentUnitOfWork,
    workspace: str,
    change: IdentityChange,
    before: dict[str, Group],
    after: dict[str, Group],
    deps: Dependencies,
) -> tuple[set[str], int]:
    """Append a notice for every customer whose answer for a (purpose, channel) turned
    from granted to denied; every customer of the groups before and after."""
    group_before = {c: g for g in before.values() for c in g}
    group_after = {c: g for g in after.values() for c in g}
    customers = set(group_before) | set(group_after)
    entries = await uow.ledger.decisions_of(workspace, sorted(customers))
    now = deps.clock()

    known: dict[tuple[str, ...], dict[tuple[str, Channel], ConsentDecision]] = {}

    def answers(group: Group) -> dict[tuple[str, Channel], ConsentDecision]:
        if group not in known:
            members = set(group)
            known[group] = answers_now((e for e in entries if e.customer_id in members), now)
        return known[group]

    notices = 0
    for customer_id in sorted(customers):
        old = answers(group_before.get(customer_id, Group((customer_id,))))
        new = answers(group_after.get(customer_id, Group((customer_id,))))
        for (purpose, channel), was in sorted(old.items()):
            now_answer = new.get((purpose, channel))
            if not was.allowed or (now_answer is not None and now_answer.allowed):
                continue
            in_force = now_answer.entry if now_answer is not None else None
            await uow.ledger.add(
                ConsentEntry(
                    id=deps.new_id(),
                    workspace=workspace,
                    customer_id=customer_id,
                    purpose=purpose,
                    channel=channel,
                    state=ConsentState.DENIED,
                    source=f"identity_{change.kind.value if change.kind else 'change'}",
                    notice_version=in_force.notice_version if in_force else "",
                    proof=in_force.name if in_force else "",
                    effective_time=now,
                    record_time=now,
                ),
                derived_from=in_force.id if in_force else "",
            )
            notices += 1
    return customers, notices
