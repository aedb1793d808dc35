"""IngestEvents: validate each event, resolve identifiers, write the batch in arrival order.

One result per event: ACCEPTED, DUPLICATE (message id seen within the window) or
REJECTED (with the field and reason). A rejected event changes nothing and never
sinks the others; only request-level problems refuse the whole call.

An event's time is ``original_time`` corrected for the sender's clock skew with
``sent_time`` (Segment's rule); one still more than ``max_event_time_ahead`` (a
setting, 1 hour by default) after the receive time is REJECTED naming
``original_time``: kept, it would move the profile's last seen time into the future
and win every later trait write until then. An alias's ``previous_id`` names the
customer to merge with as a previous user_id when identity (or an earlier event of the
batch) knows it as one, as an anonymous_id otherwise; an alias identity would not merge
(its rules: one user_id per customer by default) is REJECTED with identity's reason.
An accepted event whose traits.email or traits.phone identity left unlinked is stored
without that trait, and its result says so (``warnings``; domain/refused_traits.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rapport.errors import Aborted, InvalidArgument
from rapport.profile.adapters.identity_client import Resolution
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
from rapport.profile.domain.refused_traits import WithheldTrait, withhold_refused_traits
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from . import commands
from .batch_write import BatchWrite, NewEvent, Outcome
from .dependencies import Dependencies
from .resolution import resolve_events, settle_previous_ids
from .tracking_plans import check_events, count_violations
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)

# The write transaction is redone at most this many times after a lost race.
_WRITE_RETRIES = 4
_RETRY_BACKOFF_SECONDS = 0.05
# A batch whose customers profile erased after identity named them is resolved again at
# most this many times (once is enough unless another erasure comes meanwhile).
_ERASED_REDOS = 2


@dataclass(frozen=True)
class EventResult:
    message_id: str
    status: IngestStatus
    workspace: str
    # Empty for a rejected event.
    customer_id: str = ""
    event_id: str = ""
    rejection: Rejection | None = None
    # For an accepted event: its traits that were not stored, and why.
    warnings: tuple[WithheldTrait, ...] = ()


async def ingest_events(cmd: commands.IngestEvents, deps: Dependencies) -> list[EventResult]:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    validate_batch_size(len(cmd.events))
    receive_time = deps.clock()

    checked = _check_each(cmd.events, receive_time, deps.ingest_limits.max_event_time_ahead)
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

        await settle_previous_ids(workspace, plan.new_indexes, events, checked.identifiers, deps)
        resolved = await resolve_events(
            workspace, plan.new_indexes, checked.identifiers, checked.times, deps
        )
        rejected.update(resolved.refused)
        items = [
            _new_event(i, checked, resolved.resolutions[i])
            for i in plan.new_indexes
            if i in resolved.resolutions
        ]
        write = BatchWrite(workspace, receive_time)
        if items:
            await turn.wait()
            write = await _write_to_live_customers(write, items, expired, checked, rejected, deps)

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
    results = _results(
        cmd.events, workspace, outcomes, rejected, plan.batch_duplicates, checked.withheld
    )
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
    # The traits withheld from each event given to the write (see _new_event).
    withheld: dict[int, tuple[WithheldTrait, ...]] = field(default_factory=dict)


def _check_each(
    sent: Sequence[IncomingEvent | RejectedEvent], receive_time: datetime, max_ahead: timedelta
) -> _Checked:
    """Each event alone: a bad one is rejected, the others go on."""
    checked = _Checked()
    for i, item in enumerate(sent):
        if isinstance(item, RejectedEvent):
            checked.rejected[i] = item.rejection
            continue
        path = f"events[{i}]"
        try:
            checked.identifiers[i] = validate_event(item, path)
            checked.times[i] = event_time(item, path, receive_time, max_ahead)
        except InvalidArgument as err:
            checked.rejected[i] = rejection(err, RejectionReason.INVALID_FIELD)
            continue
        checked.events[i] = item
    return checked


def _new_event(index: int, checked: _Checked, resolution: Resolution) -> NewEvent:
    """The event as written: without the traits carrying an identifier identity left
    unlinked (refused now; a later answer for the same event may differ)."""
    event, checked.withheld[index] = withhold_refused_traits(
        checked.events[index], resolution.unlinked, f"events[{index}]"
    )
    return NewEvent(index, event, checked.times[index], resolution)


async def _write(
    write: BatchWrite, items: Sequence[NewEvent], expired: Sequence[str], deps: Dependencies
) -> BatchWrite:
    """One transaction, redone when the database aborts it in a conflict with a
    concurrent writer (a safety net: lock ordering avoids the known deadlocks)."""

    async def attempt(uow: ProfileUnitOfWork) -> BatchWrite:
        fresh = BatchWrite(write.workspace, write.now, revived=write.revived)
        await fresh.run(uow, items, expired)
        return fresh

    return await run_with_retries(
        deps.uow, attempt, retries=_WRITE_RETRIES, backoff_seconds=_RETRY_BACKOFF_SECONDS
    )


async def _write_to_live_customers(
    write: BatchWrite,
    items: Sequence[NewEvent],
    expired: Sequence[str],
    checked: _Checked,
    rejected: dict[int, Rejection],
    deps: Dependencies,
) -> BatchWrite:
    """The batch written to customers profile has not erased since identity named them.

    An erasure (identity's, applied by the follower of this or another replica;
    EraseProfile; the inactivity sweep) may commit between the batch's resolution (by
    identity or from the identity cache) and its customers' locks. Written anyway, the
    events, traits, counters, buckets, memberships and signals of the erased customer
    would be back for good. So the write reads its customers' tombstones under their
    locks and, if one is erased, writes nothing; the events resolved to erased customers
    are resolved again by identity itself (the cache may predate the erasure). Identity
    now names a new customer, or refuses the identifiers (the event is rejected, as any
    refused one), or, if it still holds the customer (an erasure of profile's own), the
    same one: an answer given after the tombstone was seen stands, as for an event sent
    after the erasure. Then the batch is written again, still in its turn (every event
    stays in arrival order). Should customers keep being erased: ABORTED, as for a write
    that keeps losing races; nothing is written, and message ids make the retry safe.
    """
    workspace = write.workspace
    for _ in range(_ERASED_REDOS):
        write = await _write(write, items, expired, deps)
        if not write.erased:
            return write
        redo = write.erased_items
        _log.info("customers erased meanwhile", extra={"workspace": workspace, "count": len(redo)})
        deps.identity_cache.invalidate(workspace)
        again = await resolve_events(
            workspace, sorted(redo), checked.identifiers, checked.times, deps, use_cache=False
        )
        rejected.update(again.refused)
        items = [
            _new_event(item.index, checked, again.resolutions[item.index])
            if item.index in redo
            else item
            for item in items
            if item.index not in again.refused
        ]
        write = BatchWrite(workspace, write.now, revived={**write.revived, **write.erased})
        if not items:
            return write
    write = await _write(write, items, expired, deps)
    if write.erased:
        raise Aborted(
            "CONCURRENT_UPDATE", "customers of the batch kept being erased; retry the call"
        )
    return write


def _results(
    sent: Sequence[IncomingEvent | RejectedEvent],
    workspace: str,
    outcomes: dict[int, Outcome],
    rejected: dict[int, Rejection],
    batch_duplicates: dict[int, int],
    withheld: dict[int, tuple[WithheldTrait, ...]],
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
            # A duplicate (a concurrent ingest stored it first) stored nothing now.
            warnings = withheld.get(i, ()) if o.status is IngestStatus.ACCEPTED else ()
            results.append(
                EventResult(
                    item.message_id, o.status, workspace, o.customer_id, o.event_id, None, warnings
                )
            )
    return results
