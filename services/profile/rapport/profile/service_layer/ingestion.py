"""IngestEvents: validate a batch, resolve its identifiers, store events, traits, signals."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rapport.errors import FailedPrecondition, InvalidArgument, Unavailable
from rapport.profile.adapters.identity_client import (
    IdentityBadAnswer,
    IdentityRefused,
    IdentityUnavailable,
    Observation,
    Resolution,
)
from rapport.profile.adapters.repository import ProfileRepository
from rapport.profile.domain import names
from rapport.profile.domain.ingestion import (
    SourcedIdentifier,
    event_times,
    plan_batch,
    validate_batch,
)
from rapport.profile.domain.model import (
    TRAIT_BEARING_TYPES,
    IncomingEvent,
    IngestStatus,
    SignalKind,
    StoredEvent,
    Trait,
    TraitChange,
)
from rapport.profile.domain.signals import event_seen_payload, trait_changed_payload
from rapport.profile.domain.traits import apply_event_traits, merge_traits
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from . import commands
from .dependencies import Dependencies
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)

_MAX_MERGE_HOPS = 1000
# The write transaction is redone at most this many times after a lost race.
_WRITE_RETRIES = 4
_RETRY_BACKOFF_SECONDS = 0.05


@dataclass(frozen=True)
class EventResult:
    message_id: str
    status: IngestStatus
    workspace: str
    customer_id: str


async def ingest_events(cmd: commands.IngestEvents, deps: Dependencies) -> list[EventResult]:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    events = list(cmd.events)
    identifiers = validate_batch(events)

    async with deps.uow(readonly=True) as uow:
        stored = await uow.profiles.stored_customers(workspace, {e.message_id for e in events})
    plan = plan_batch(events, stored)

    receive_time = deps.clock()
    times = event_times(events, plan.new_indexes, receive_time)
    resolutions: list[Resolution] = []
    if plan.new_indexes:
        resolutions = await _resolve(workspace, plan.new_indexes, identifiers, times, deps)

    write = _BatchWrite(workspace, receive_time)
    if plan.new_indexes:
        write = await _write_batch(
            workspace, receive_time, events, plan.new_indexes, resolutions, times, deps
        )
        if write.signal_count:
            deps.notifier.notify()

    customers: dict[int, str] = {}
    statuses: dict[int, IngestStatus] = {}
    for i, customer in plan.stored_duplicates.items():
        customers[i], statuses[i] = write.current(customer), IngestStatus.DUPLICATE
    for i in plan.new_indexes:
        customers[i], statuses[i] = write.outcomes[i]
    for i, first in plan.batch_duplicates.items():
        customers[i], statuses[i] = customers[first], IngestStatus.DUPLICATE
    _log.info(
        "events ingested",
        extra={
            "workspace": workspace,
            "count": sum(s is IngestStatus.ACCEPTED for s in statuses.values()),
            "batch_size": len(events),
        },
    )
    return [
        EventResult(event.message_id, statuses[i], workspace, customers[i])
        for i, event in enumerate(events)
    ]


async def _resolve(
    workspace: str,
    new_indexes: Sequence[int],
    identifiers: Sequence[Sequence[SourcedIdentifier]],
    times: dict[int, datetime],
    deps: Dependencies,
) -> list[Resolution]:
    """One BatchResolve for every new event; identity errors named by our fields."""
    observations = [
        Observation([s.identifier for s in identifiers[i]], times[i]) for i in new_indexes
    ]
    try:
        return await deps.identity.batch_resolve(workspace, observations)
    except IdentityUnavailable as err:
        raise Unavailable(
            "IDENTITY_UNAVAILABLE",
            f"the identity service could not resolve the events ({err.code}); retry later",
        ) from None
    except IdentityRefused as err:
        raise _refusal_to_field(err, new_indexes, identifiers) from None
    except IdentityBadAnswer as err:
        # Identity answered, with something profile cannot use: retrying will not help.
        raise FailedPrecondition(
            "IDENTITY_BAD_RESPONSE",
            f"the identity service gave an answer profile cannot use ({err.problem})",
        ) from None


async def _write_batch(
    workspace: str,
    receive_time: datetime,
    events: Sequence[IncomingEvent],
    new_indexes: Sequence[int],
    resolutions: Sequence[Resolution],
    times: dict[int, datetime],
    deps: Dependencies,
) -> _BatchWrite:
    """One transaction, redone when the database aborts it in a conflict with a
    concurrent writer (a safety net: lock ordering avoids the known deadlocks)."""

    async def attempt(uow: ProfileUnitOfWork) -> _BatchWrite:
        write = _BatchWrite(workspace, receive_time)
        await write.run(uow.profiles, events, new_indexes, resolutions, times)
        return write

    return await run_with_retries(
        deps.uow, attempt, retries=_WRITE_RETRIES, backoff_seconds=_RETRY_BACKOFF_SECONDS
    )


def _refusal_to_field(
    err: IdentityRefused,
    new_indexes: Sequence[int],
    identifiers: Sequence[Sequence[SourcedIdentifier]],
) -> InvalidArgument:
    k = err.request_index
    if k is None or not 0 <= k < len(new_indexes):
        return InvalidArgument("events", err.description)
    event_index = new_indexes[k]
    sourced = identifiers[event_index]
    j = err.identifier_index
    if j is None or not 0 <= j < len(sourced):
        return InvalidArgument(f"events[{event_index}]", err.description)
    source = sourced[j]
    # Only explicit identifiers have sub-fields; the others are plain strings.
    suffix = err.subfield if source.structured and err.subfield.startswith(".") else ""
    return InvalidArgument(source.field + suffix, err.description)


@dataclass
class _BatchWrite:
    """The write transaction of one ingest: merges, events, traits, signals."""

    workspace: str
    now: datetime
    merges: dict[str, str] = field(default_factory=dict)
    outcomes: dict[int, tuple[str, IngestStatus]] = field(default_factory=dict)
    signal_count: int = 0
    _signals: list[tuple[SignalKind, str, dict[str, Any]]] = field(default_factory=list)
    _dirty: dict[str, set[str]] = field(default_factory=dict)

    def current(self, customer_id: str) -> str:
        """Follow merges reported in this batch to the live customer."""
        for _ in range(_MAX_MERGE_HOPS):
            survivor = self.merges.get(customer_id)
            if survivor is None or survivor == customer_id:
                break
            customer_id = survivor
        return customer_id

    async def run(
        self,
        repo: ProfileRepository,
        events: Sequence[IncomingEvent],
        new_indexes: Sequence[int],
        resolutions: Sequence[Resolution],
        times: dict[int, datetime],
    ) -> None:
        for resolution in resolutions:
            for merged in resolution.merged_customer_ids:
                self.merges[merged] = resolution.customer_id
        event_customers = {
            i: self.current(r.customer_id) for i, r in zip(new_indexes, resolutions, strict=True)
        }
        live = set(event_customers.values())
        await repo.lock_customers(self.workspace, live | set(self.merges))
        # Identity names these customers as live: any old alias of theirs is stale.
        await repo.forget_aliases(self.workspace, live)
        books = await repo.traits_of(self.workspace, live | set(self.merges))

        for merged in self.merges:
            if (survivor := self.current(merged)) != merged:
                await self._merge(repo, books, merged, survivor)
        # Inserted in message id order: concurrent batches that share message ids then
        # wait on each other's unique-index entries in one order, never in a cycle.
        stored: dict[int, StoredEvent] = {}
        for i in sorted(new_indexes, key=lambda n: events[n].message_id):
            inserted = await self._insert_event(repo, events[i], i, event_customers[i], times[i])
            if inserted is not None:
                stored[i] = inserted
        # Effects in request order (trait ties go to the later event of the batch).
        for i in new_indexes:
            if i in stored:
                self._apply_event(books, events[i], i, stored[i])

        for customer_id, keys in self._dirty.items():
            for key in sorted(keys):
                await repo.save_trait(self.workspace, customer_id, key, books[customer_id][key])
        if self._signals:
            await repo.lock_signal_log()
            for kind, customer_id, payload in self._signals:
                await repo.append_signal(self.workspace, kind, customer_id, payload, self.now)
        self.signal_count = len(self._signals)

    async def _merge(
        self,
        repo: ProfileRepository,
        books: dict[str, dict[str, Trait]],
        merged: str,
        survivor: str,
    ) -> None:
        moved = await repo.reassign_events(self.workspace, [merged], survivor)
        written, changes = merge_traits(books.setdefault(survivor, {}), books.pop(merged, {}))
        await repo.delete_traits(self.workspace, [merged])
        self._dirty.pop(merged, None)
        await repo.record_merge(self.workspace, merged, survivor, self.now)
        self._note_traits(survivor, written, changes)
        _log.info(
            "customer merged",
            extra={"workspace": self.workspace, "customer": survivor, "count": moved},
        )

    async def _insert_event(
        self,
        repo: ProfileRepository,
        event: IncomingEvent,
        index: int,
        customer_id: str,
        event_time: datetime,
    ) -> StoredEvent | None:
        """Store the event; None (and a DUPLICATE outcome) when its message id is taken."""
        assert event.type is not None  # validated
        stored = StoredEvent(
            event_id=uuid.uuid4().hex,
            workspace=self.workspace,
            customer_id=customer_id,
            type=event.type,
            event_time=event_time,
            receive_time=self.now,
            sent=event,
        )
        seq = await repo.add_event(stored)
        if seq is None:
            # Stored by a concurrent ingest since our duplicate check.
            found = await repo.stored_customers(self.workspace, [event.message_id])
            self.outcomes[index] = (found[event.message_id], IngestStatus.DUPLICATE)
            return None
        self.outcomes[index] = (customer_id, IngestStatus.ACCEPTED)
        return replace(stored, seq=seq)

    def _apply_event(
        self,
        books: dict[str, dict[str, Trait]],
        event: IncomingEvent,
        index: int,
        stored: StoredEvent,
    ) -> None:
        customer_id = stored.customer_id
        self._signals.append((SignalKind.EVENT_SEEN, customer_id, event_seen_payload(stored)))
        if event.type in TRAIT_BEARING_TYPES and event.traits:
            written, changes = apply_event_traits(
                books.setdefault(customer_id, {}),
                event.traits,
                source_message_id=event.message_id,
                event_time=stored.event_time,
                received_at=self.now,
                batch_index=index,
            )
            self._note_traits(customer_id, written, changes)

    def _note_traits(
        self, customer_id: str, written: Sequence[str], changes: Sequence[TraitChange]
    ) -> None:
        self._dirty.setdefault(customer_id, set()).update(written)
        for change in changes:
            self._signals.append(
                (SignalKind.TRAIT_CHANGED, customer_id, trait_changed_payload(change))
            )
