"""IngestEvents: validate each event, resolve identifiers, write the batch in arrival order.

One result per event: ACCEPTED, DUPLICATE (message id seen within the window) or
REJECTED (with the field and reason). A rejected event changes nothing and never
sinks the others; only request-level problems refuse the whole call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rapport.errors import InvalidArgument
from rapport.profile.adapters.profile_cache import customer_scope
from rapport.profile.adapters.repository import StoredMessage
from rapport.profile.domain import names
from rapport.profile.domain.ingestion import (
    SourcedIdentifier,
    event_time,
    plan_batch,
    rejection,
    validate_batch_size,
    validate_event,
)
from rapport.profile.domain.model import (
    IncomingEvent,
    IngestStatus,
    RejectedEvent,
    Rejection,
    RejectionReason,
)
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from . import commands
from .batch_write import BatchWrite, NewEvent, Outcome
from .dependencies import Dependencies
from .resolution import resolve_events
from .tracking_plans import check_events, count_violations
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)

# The write transaction is redone at most this many times after a lost race.
_WRITE_RETRIES = 4
_RETRY_BACKOFF_SECONDS = 0.05


@dataclass(frozen=True)
class EventResult:
    message_id: str
    status: IngestStatus
    workspace: str
    # Empty for a rejected event.
    customer_id: str = ""
    event_id: str = ""
    rejection: Rejection | None = None


async def ingest_events(cmd: commands.IngestEvents, deps: Dependencies) -> list[EventResult]:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    validate_batch_size(len(cmd.events))
    receive_time = deps.clock()

    checked = _check_each(cmd.events, receive_time)
    events, rejected = checked.events, checked.rejected

    async with deps.arrival_order.ticket() as turn:
        window_start = receive_time - deps.dedup_window
        async with deps.uow(readonly=True) as uow:
            # Tracking plans first: an event a BLOCK plan refuses goes no further.
            verdict = await check_events(uow, workspace, events)
            for i, refused in verdict.rejected.items():
                events.pop(i, None)
                rejected[i] = refused
            recorded = await uow.profiles.stored_customers(
                workspace, {e.message_id for e in events.values()}
            )
        stored = {m: r for m, r in recorded.items() if r.receive_time >= window_start}
        expired = sorted(set(recorded) - set(stored))
        plan = plan_batch(cmd.events, stored, indexes=sorted(events))

        resolved = await resolve_events(
            workspace, plan.new_indexes, checked.identifiers, checked.times, deps
        )
        rejected.update(resolved.refused)
        items = [
            NewEvent(i, events[i], checked.times[i], resolved.resolutions[i])
            for i in plan.new_indexes
            if i in resolved.resolutions
        ]
        write = BatchWrite(workspace, receive_time)
        if items:
            await turn.wait()
            write = await _write(write, items, expired, deps)

    if write.stale_cache:
        deps.identity_cache.invalidate(workspace)
    outcomes: dict[int, Outcome] = dict(write.outcomes)
    if verdict.violations:
        accepted = {i for i, o in outcomes.items() if o.status is IngestStatus.ACCEPTED}
        await count_violations(
            deps,
            workspace,
            verdict.violations,
            {i: item.message_id for i, item in enumerate(cmd.events)},
            accepted | set(verdict.rejected),
        )
    record: StoredMessage
    for i, record in plan.stored_duplicates.items():
        customer = write.current(record.customer_id)
        outcomes[i] = Outcome(IngestStatus.DUPLICATE, customer, record.event_id)
    # Replays reach the cache too: a retry after a failed invalidation heals it.
    scopes = write.touched | {o.customer_id for o in outcomes.values()}
    if scopes:
        await deps.profile_cache.invalidate(customer_scope(workspace, c) for c in scopes)
    if write.signal_count:
        deps.notifier.notify()
    results = _results(cmd.events, workspace, outcomes, rejected, plan.batch_duplicates)
    _log.info(
        "events ingested",
        extra={
            "workspace": workspace,
            "count": sum(r.status is IngestStatus.ACCEPTED for r in results),
            "batch_size": len(results),
        },
    )
    return results


@dataclass
class _Checked:
    """The events of a batch checked one by one (index -> ...)."""

    events: dict[int, IncomingEvent] = field(default_factory=dict)
    rejected: dict[int, Rejection] = field(default_factory=dict)
    identifiers: dict[int, list[SourcedIdentifier]] = field(default_factory=dict)
    times: dict[int, datetime] = field(default_factory=dict)


def _check_each(sent: Sequence[IncomingEvent | RejectedEvent], receive_time: datetime) -> _Checked:
    """Each event alone: a bad one is rejected, the others go on."""
    checked = _Checked()
    for i, item in enumerate(sent):
        if isinstance(item, RejectedEvent):
            checked.rejected[i] = item.rejection
            continue
        path = f"events[{i}]"
        try:
            checked.identifiers[i] = validate_event(item, path)
            checked.times[i] = event_time(item, path, receive_time)
        except InvalidArgument as err:
            checked.rejected[i] = rejection(err, RejectionReason.INVALID_FIELD)
            continue
        checked.events[i] = item
    return checked


async def _write(
    write: BatchWrite, items: Sequence[NewEvent], expired: Sequence[str], deps: Dependencies
) -> BatchWrite:
    """One transaction, redone when the database aborts it in a conflict with a
    concurrent writer (a safety net: lock ordering avoids the known deadlocks)."""

    async def attempt(uow: ProfileUnitOfWork) -> BatchWrite:
        fresh = BatchWrite(write.workspace, write.now)
        await fresh.run(uow, items, expired)
        return fresh

    return await run_with_retries(
        deps.uow, attempt, retries=_WRITE_RETRIES, backoff_seconds=_RETRY_BACKOFF_SECONDS
    )


def _results(
    sent: Sequence[IncomingEvent | RejectedEvent],
    workspace: str,
    outcomes: dict[int, Outcome],
    rejected: dict[int, Rejection],
    batch_duplicates: dict[int, int],
) -> list[EventResult]:
    results: list[EventResult] = []
    for i, item in enumerate(sent):
        first = batch_duplicates.get(i)
        if first is not None:
            # A repeat within the batch answers as the first did (a duplicate of it).
            earlier = results[first]
            status = IngestStatus.DUPLICATE if earlier.rejection is None else earlier.status
            results.append(
                EventResult(
                    item.message_id,
                    status,
                    workspace,
                    earlier.customer_id,
                    earlier.event_id,
                    earlier.rejection,
                )
            )
        elif i in rejected:
            results.append(
                EventResult(
                    item.message_id, IngestStatus.REJECTED, workspace, rejection=rejected[i]
                )
            )
        else:
            o = outcomes[i]
            results.append(
                EventResult(item.message_id, o.status, workspace, o.customer_id, o.event_id)
            )
    return results
