"""The profile use cases: one function per RPC."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rapport.commitwatch import CommitNotifier
from rapport.errors import InvalidArgument, NotFound, Unavailable
from rapport.pagination import decode_page_token, encode_page_token, page_size
from rapport.profile.adapters.identity_client import (
    IdentityClient,
    IdentityRefused,
    IdentityUnavailable,
    Observation,
    Resolution,
)
from rapport.profile.adapters.repository import ProfileRepository, is_transient_conflict
from rapport.profile.domain.ingestion import (
    SourcedIdentifier,
    corrected_timestamp,
    plan_batch,
    validate_batch,
)
from rapport.profile.domain.model import (
    TRAIT_BEARING_TYPES,
    IncomingEvent,
    IngestStatus,
    ProfileView,
    Signal,
    SignalKind,
    StoredEvent,
    Trait,
    TraitChange,
)
from rapport.profile.domain.signals import event_seen_payload, trait_changed_payload
from rapport.profile.domain.traits import apply_event_traits, merge_traits
from rapport.resourcenames import parse_name, require_workspace

from . import commands
from .unit_of_work import UnitOfWorkFactory

_log = logging.getLogger(__name__)

WORKSPACE = "workspaces/{workspace}"
CUSTOMER = "workspaces/{workspace}/customers/{customer}"
ALL_CUSTOMERS = "workspaces/{workspace}/customers/-"
PROFILE = "workspaces/{workspace}/customers/{customer}/profile"

_CURSOR = re.compile(r"[1-9][0-9]{0,18}")
_MAX_MERGE_HOPS = 1000
_WRITE_ATTEMPTS = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dependencies:
    uow: UnitOfWorkFactory
    identity: IdentityClient
    notifier: CommitNotifier
    workspaces: Collection[str]
    clock: Callable[[], datetime] = utc_now
    signal_batch_size: int = 500
    signal_poll_seconds: float = 0.5


@dataclass(frozen=True)
class EventResult:
    message_id: str
    status: IngestStatus
    workspace: str
    customer_id: str


@dataclass(frozen=True)
class EventPage:
    events: list[StoredEvent]
    next_page_token: str


def _workspace(parent: str, deps: Dependencies, field: str = "parent") -> str:
    workspace = parse_name(WORKSPACE, parent, field=field)["workspace"]
    require_workspace(workspace, deps.workspaces)
    return workspace


# -- IngestEvents ----------------------------------------------------------------


async def ingest_events(cmd: commands.IngestEvents, deps: Dependencies) -> list[EventResult]:
    workspace = _workspace(cmd.parent, deps)
    events = list(cmd.events)
    identifiers = validate_batch(events)

    async with deps.uow(readonly=True) as uow:
        stored = await uow.profiles.stored_customers(workspace, {e.message_id for e in events})
    plan = plan_batch(events, stored)

    received_at = deps.clock()
    timestamps = {
        i: corrected_timestamp(received_at, events[i].original_timestamp, events[i].sent_at)
        for i in plan.new_indexes
    }
    resolutions: list[Resolution] = []
    if plan.new_indexes:
        resolutions = await _resolve(workspace, plan.new_indexes, identifiers, timestamps, deps)

    write = _BatchWrite(workspace, received_at)
    if plan.new_indexes:
        write = await _write_batch(
            workspace, received_at, events, plan.new_indexes, resolutions, timestamps, deps
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
    timestamps: dict[int, datetime],
    deps: Dependencies,
) -> list[Resolution]:
    """One BatchResolve for every new event; identity errors named by our fields."""
    observations = [
        Observation([s.identifier for s in identifiers[i]], timestamps[i]) for i in new_indexes
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


async def _write_batch(
    workspace: str,
    received_at: datetime,
    events: Sequence[IncomingEvent],
    new_indexes: Sequence[int],
    resolutions: Sequence[Resolution],
    timestamps: dict[int, datetime],
    deps: Dependencies,
) -> _BatchWrite:
    """One transaction, retried when the database aborts it in a conflict with a
    concurrent writer (a safety net: lock ordering avoids the known deadlocks)."""
    for attempt in range(1, _WRITE_ATTEMPTS + 1):
        write = _BatchWrite(workspace, received_at)
        try:
            async with deps.uow() as uow:
                await write.run(uow.profiles, events, new_indexes, resolutions, timestamps)
                await uow.commit()
            return write
        except Exception as err:
            if attempt == _WRITE_ATTEMPTS or not is_transient_conflict(err):
                raise
            _log.info(
                "ingest write conflict, retrying",
                extra={"workspace": workspace, "attempt": attempt},
            )
            await asyncio.sleep(random.uniform(0, 0.05 * attempt))
    raise AssertionError("unreachable")


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
        timestamps: dict[int, datetime],
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
            inserted = await self._insert_event(
                repo, events[i], i, event_customers[i], timestamps[i]
            )
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
        timestamp: datetime,
    ) -> StoredEvent | None:
        """Store the event; None (and a DUPLICATE outcome) when its message id is taken."""
        assert event.type is not None  # validated
        stored = StoredEvent(
            event_id=uuid.uuid4().hex,
            workspace=self.workspace,
            customer_id=customer_id,
            message_id=event.message_id,
            type=event.type,
            event_name=event.event,
            timestamp=timestamp,
            received_at=self.now,
            document=event.document,
        )
        seq = await repo.add_event(stored)
        if seq is None:
            # Stored by a concurrent ingest since our duplicate check.
            found = await repo.stored_customers(self.workspace, [event.message_id])
            self.outcomes[index] = (found[event.message_id], IngestStatus.DUPLICATE)
            return None
        self.outcomes[index] = (customer_id, IngestStatus.ACCEPTED)
        return dataclasses.replace(stored, seq=seq)

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
                event_time=stored.timestamp,
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


# -- GetProfile / ListEvents -------------------------------------------------------


async def get_profile(cmd: commands.GetProfile, deps: Dependencies) -> ProfileView:
    ids = parse_name(PROFILE, cmd.name, field="name")
    require_workspace(ids["workspace"], deps.workspaces)
    workspace = ids["workspace"]
    async with deps.uow(readonly=True) as uow:
        customer_id = await uow.profiles.survivor_of(workspace, ids["customer"])
        count, first, last = await uow.profiles.event_stats(workspace, customer_id)
        if count == 0 or first is None or last is None:
            raise NotFound(cmd.name)
        traits = (await uow.profiles.traits_of(workspace, [customer_id]))[customer_id]
    return ProfileView(workspace, customer_id, traits, count, first, last)


async def list_events(cmd: commands.ListEvents, deps: Dependencies) -> EventPage:
    if cmd.parent.endswith("/customers/-"):
        ids = parse_name(ALL_CUSTOMERS, cmd.parent, field="parent")
        requested_customer: str | None = None
    else:
        ids = parse_name(CUSTOMER, cmd.parent, field="parent")
        requested_customer = ids["customer"]
    workspace = ids["workspace"]
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    before = _keyset_position(decode_page_token(cmd.page_token, bound_to=cmd.parent))

    async with deps.uow(readonly=True) as uow:
        customer_id = (
            await uow.profiles.survivor_of(workspace, requested_customer)
            if requested_customer is not None
            else None
        )
        found = await uow.profiles.list_events(
            workspace, customer_id, before=before, limit=size + 1
        )
    page, more = found[:size], len(found) > size
    token = ""
    if more:
        last = page[-1]
        token = encode_page_token(
            {"t": last.timestamp.isoformat(), "s": last.seq}, bound_to=cmd.parent
        )
    return EventPage(page, token)


def _keyset_position(position: dict[str, Any] | None) -> tuple[datetime, int] | None:
    if position is None:
        return None
    try:
        moment = datetime.fromisoformat(position["t"])
        seq = int(position["s"])
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument("page_token", "is not a token returned by this method") from None
    if moment.tzinfo is None:
        raise InvalidArgument("page_token", "is not a token returned by this method")
    return moment, seq


# -- WatchSignals ----------------------------------------------------------------


async def watch_signals(cmd: commands.WatchSignals, deps: Dependencies) -> AsyncIterator[Signal]:
    """Validate, then stream signals after the cursor forever (until cancelled or stopped)."""
    workspace = _workspace(cmd.parent, deps)
    kinds: list[SignalKind] = []
    for n, kind in enumerate(cmd.kinds):
        if kind is None:
            raise InvalidArgument(f"kinds[{n}]", "must be a known signal kind, not unspecified")
        kinds.append(kind)
    after = 0
    if cmd.start_cursor:
        if not _CURSOR.fullmatch(cmd.start_cursor):
            raise InvalidArgument("start_cursor", "is not a cursor returned by WatchSignals")
        after = int(cmd.start_cursor)
        async with deps.uow(readonly=True) as uow:
            if after > await uow.profiles.last_signal_seq():
                raise InvalidArgument("start_cursor", "is not a cursor returned by WatchSignals")
    return _follow_signals(workspace, after, kinds, deps)


async def _follow_signals(
    workspace: str, after: int, kinds: Sequence[SignalKind], deps: Dependencies
) -> AsyncIterator[Signal]:
    notifier = deps.notifier
    while not notifier.closed:
        # Taken before reading, so a commit racing with the read still wakes us.
        ticket = notifier.ticket()
        async with deps.uow(readonly=True) as uow:
            batch = await uow.profiles.signals_after(
                workspace, after, kinds, deps.signal_batch_size
            )
        for signal in batch:
            yield signal
            after = signal.seq
        if len(batch) < deps.signal_batch_size:
            await notifier.wait(ticket, deps.signal_poll_seconds)
    raise Unavailable("SHUTTING_DOWN", "the server is stopping; resume from the last cursor")
