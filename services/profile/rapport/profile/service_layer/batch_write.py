"""The write transaction of one ingest: merges, message ids, events, traits, groups,
counters, signals, each written with a few multi-row statements.

Reads happen once per batch (the traits, counters and memberships of every customer
involved, the groups named), under the customers' locks; effects are applied in
memory in request order, then written.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.profile.adapters.group_repository import GroupRecord
from rapport.profile.adapters.identity_client import Resolution
from rapport.profile.adapters.trait_repository import first_seen
from rapport.profile.domain import names
from rapport.profile.domain.documents import event_document
from rapport.profile.domain.ingestion import trait_source
from rapport.profile.domain.model import (
    EventType,
    GroupMember,
    IncomingEvent,
    IngestStatus,
    ProfileSummary,
    SignalKind,
    StoredEvent,
    Trait,
    TraitChange,
)
from rapport.profile.domain.signals import event_seen_payload, trait_changed_payload
from rapport.profile.domain.traits import apply_event_traits, merge_traits

from .audiences import Change, apply_changes, definitions
from .computed_batches import apply_events as apply_computed
from .customer_locks import erased_meanwhile
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)

_MAX_MERGE_HOPS = 1000


@dataclass(frozen=True)
class NewEvent:
    index: int
    event: IncomingEvent
    event_time: datetime
    resolution: Resolution


@dataclass(frozen=True)
class Outcome:
    status: IngestStatus
    customer_id: str
    event_id: str


@dataclass
class _Books:
    """What the batch reads once and changes in memory before writing."""

    traits: dict[str, dict[str, Trait]]
    memberships: dict[str, dict[str, GroupMember]]
    group_traits: dict[str, dict[str, Trait]]
    groups: dict[str, GroupRecord]
    dirty_traits: dict[str, set[str]] = field(default_factory=dict)
    dirty_group_traits: dict[str, set[str]] = field(default_factory=dict)
    # Customer -> the events this batch adds to its counters.
    added: dict[str, ProfileSummary] = field(default_factory=dict)
    dirty_groups: set[str] = field(default_factory=set)
    new_members: list[tuple[str, GroupMember]] = field(default_factory=list)


@dataclass
class BatchWrite:
    workspace: str
    now: datetime
    merges: dict[str, str] = field(default_factory=dict)
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    # Customers whose profile changed (cache scopes to invalidate).
    touched: set[str] = field(default_factory=set)
    signal_count: int = 0
    # An answer of the identity cache named a customer merged since.
    stale_cache: bool = False
    # In: customers identity named afresh after their erasure (-> its time, as seen).
    revived: dict[str, datetime] = field(default_factory=dict)
    # Out: customers the batch resolved to that profile erased since (-> when), and the
    # indexes of their events; nothing was written (ingestion resolves those again).
    erased: dict[str, datetime] = field(default_factory=dict)
    erased_items: set[int] = field(default_factory=set)
    _signals: list[tuple[SignalKind, str, dict[str, Any]]] = field(default_factory=list)
    # What segments and life stages must look at again (audiences.apply_changes).
    _audience: dict[str, Change] = field(default_factory=dict)
    _merged_away: set[str] = field(default_factory=set)
    # Customer -> computed trait values after this batch (for those it changed).
    _computed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def current(self, customer_id: str) -> str:
        """Follow merges reported in this batch to the live customer."""
        for _ in range(_MAX_MERGE_HOPS):
            survivor = self.merges.get(customer_id)
            if survivor is None or survivor == customer_id:
                break
            customer_id = survivor
        return customer_id

    async def run(
        self, uow: ProfileUnitOfWork, items: Sequence[NewEvent], expired: Sequence[str]
    ) -> None:
        ws, repo = self.workspace, uow.profiles
        for item in items:
            for merged in item.resolution.merged_customer_ids:
                self.merges[merged] = item.resolution.customer_id
        customer_of = {item.index: self.current(item.resolution.customer_id) for item in items}
        live = set(customer_of.values())
        involved = live | set(self.merges)
        # Before the customer locks (the order every writer takes them in): the computed
        # traits this batch counts its events for stay those it reads below until commit.
        await uow.computed.share_definitions(ws)
        await repo.lock_customers(ws, involved)
        confirmed = {customer_of[i.index] for i in items if not i.resolution.cached}
        # A customer that profile merged away (the follower applied identity's merge, here
        # or on another replica) has an alias, read under the customers' locks: its events
        # go to the survivor. The answer naming it came from profile's identity cache (then
        # stale: the caller empties it) or from identity just before the merge. An alias
        # an unmerge made stale goes when the follower applies that unmerge, which gives
        # the restored customer back every event carrying its identifiers, these too.
        moved = await repo.aliases_of(ws, live)
        if moved:
            self.stale_cache = not set(moved) <= confirmed
            await repo.lock_customers(ws, set(moved.values()) - involved)
            customer_of = {i: moved.get(c, c) for i, c in customer_of.items()}
            live = set(customer_of.values())
            self.merges = {m: moved.get(s, s) for m, s in self.merges.items()}
        # Erased (a tombstone) since the answer: the erasure committed before these locks.
        self.erased = await erased_meanwhile(uow, ws, live, self.revived)
        if self.erased:
            self.erased_items = {i for i, c in customer_of.items() if c in self.erased}
            return
        await repo.forget_message_ids(ws, expired)
        event_ids = {item.index: uuid.uuid4().hex for item in items}
        claimed = await repo.claim_message_ids(
            ws,
            [(i.event.message_id, event_ids[i.index], customer_of[i.index]) for i in items],
            self.now,
        )
        accepted = [item for item in items if item.event.message_id in claimed]
        await self._lost_races(
            [item for item in items if item.event.message_id not in claimed], uow
        )

        # Only what the batch changes is read: the traits of customers with identify
        # events, the memberships of those with group events, and both for merges.
        merging = set(self.merges) | {self.current(m) for m in self.merges}
        identified = {customer_of[i.index] for i in accepted if i.event.type is EventType.IDENTIFY}
        grouped = [i for i in accepted if i.event.type is EventType.GROUP]
        group_keys = {names.group_key(item.event.group_id) for item in grouped}
        books = _Books(
            traits=await uow.traits.of_customers.read(ws, identified | merging),
            memberships=await uow.groups.memberships_of(
                ws, {customer_of[i.index] for i in grouped} | merging
            ),
            group_traits=await uow.traits.of_groups.read(ws, group_keys),
            groups=await uow.groups.groups_of(ws, group_keys),
        )
        for merged in self.merges:
            if (survivor := self.current(merged)) != merged:
                await self._merge(uow, books, merged, survivor)

        stored = [
            StoredEvent(
                event_id=event_ids[item.index],
                workspace=ws,
                customer_id=customer_of[item.index],
                type=item.event.type,  # type: ignore[arg-type]  # validated
                event_time=item.event_time,
                receive_time=self.now,
                sent=item.event,
            )
            for item in accepted
        ]
        documents = [event_document(item.event) for item in accepted]
        seqs = await repo.add_events(stored, documents)
        received_at = self.now.isoformat()
        for item, event, document in zip(accepted, stored, documents, strict=True):
            self.outcomes[item.index] = Outcome(
                IngestStatus.ACCEPTED, event.customer_id, event.event_id
            )
            payload = event_seen_payload(
                event, document, seq=seqs[event.event_id], received_at=received_at
            )
            self._apply(books, item, event.customer_id, payload)
        observed = [
            (e.customer_id, i.event, i.event_time) for i, e in zip(accepted, stored, strict=True)
        ]
        rules = await definitions(uow, ws)

        known: dict[tuple[frozenset[str], bool, frozenset[str]], frozenset[str] | None] = {}

        def wanted(customer: str, keys: set[str]) -> frozenset[str] | None:
            # What the rules this batch will judge for the customer read (apply_changes
            # reads the rest if a customer turns out to need more); customers share a few.
            change = self._audience.get(customer) or Change()
            shape = (frozenset(change.keys), change.everything, frozenset(keys))
            if shape not in known:
                known[shape] = rules.computed_keys_read(
                    Change(set(shape[0]), shape[1], computed=True, computed_keys=set(shape[2]))
                )
            return known[shape]

        # Values are worked out only for the computed traits rules read.
        computed = await apply_computed(
            uow, ws, observed, self.now, needed_keys=rules.computed_keys(), wanted=wanted
        )
        self._computed = computed.values
        for customer, keys in computed.changed_keys.items():
            change = self._audience.setdefault(customer, Change())
            change.computed, change.computed_keys = True, keys
        await self._save(uow, books)
        audiences = await apply_changes(
            uow,
            ws,
            self.now,
            self._audience,
            sorted(self._merged_away),
            self._computed,
            rules,
            known_keys=computed.covered,
        )
        self._signals.extend(audiences.signals)
        self.touched |= audiences.changed
        if self._signals:
            await repo.lock_signal_log()
            await repo.append_signals(ws, self._signals, self.now)
        self.signal_count = len(self._signals)

    async def _lost_races(self, lost: Sequence[NewEvent], uow: ProfileUnitOfWork) -> None:
        """Events whose message id a concurrent ingest stored since the duplicate check."""
        if not lost:
            return
        found = await uow.profiles.stored_customers(
            self.workspace, [item.event.message_id for item in lost]
        )
        for item in lost:
            record = found[item.event.message_id]
            self.outcomes[item.index] = Outcome(
                IngestStatus.DUPLICATE, self.current(record.customer_id), record.event_id
            )

    def _apply(self, books: _Books, item: NewEvent, customer_id: str, seen: dict[str, Any]) -> None:
        """An accepted event's effects, in memory (request order); ``seen``: the
        payload of its EVENT_SEEN signal."""
        event = item.event
        self.touched.add(customer_id)
        self._audience.setdefault(customer_id, Change())
        self._signals.append((SignalKind.EVENT_SEEN, customer_id, seen))
        books.added[customer_id] = first_seen(books.added.get(customer_id), item.event_time)
        if event.type is EventType.GROUP:
            self._apply_group(books, item, customer_id)
        elif event.type is EventType.IDENTIFY and event.traits:
            written, changes = apply_event_traits(
                books.traits.setdefault(customer_id, {}),
                event.traits,
                **self._trait_origin(item),
            )
            books.dirty_traits.setdefault(customer_id, set()).update(written)
            self._note_changes(customer_id, changes)

    def _trait_origin(self, item: NewEvent) -> dict[str, Any]:
        return {
            "source_message_id": item.event.message_id,
            "event_time": item.event_time,
            "received_at": self.now,
            "batch_index": item.index,
            "source": trait_source(item.event),
        }

    def _apply_group(self, books: _Books, item: NewEvent, customer_id: str) -> None:
        event = item.event
        key = names.group_key(event.group_id)
        record = books.groups.get(key)
        members = books.memberships.setdefault(customer_id, {})
        joined = key not in members
        if joined:
            member = GroupMember(customer_id, item.event_time, event.message_id)
            members[key] = member
            books.new_members.append((key, member))
        count = (record.member_count if record else 0) + (1 if joined else 0)
        books.groups[key] = GroupRecord(
            key,
            event.group_id,
            count,
            record.create_time if record else self.now,
            self.now,
        )
        books.dirty_groups.add(key)
        if event.traits:
            written, _ = apply_event_traits(
                books.group_traits.setdefault(key, {}), event.traits, **self._trait_origin(item)
            )
            books.dirty_group_traits.setdefault(key, set()).update(written)

    async def _merge(
        self, uow: ProfileUnitOfWork, books: _Books, merged: str, survivor: str
    ) -> None:
        ws = self.workspace
        moved = await uow.profiles.reassign_events(ws, [merged], survivor)
        written, changes = merge_traits(
            books.traits.setdefault(survivor, {}), books.traits.pop(merged, {})
        )
        books.dirty_traits.pop(merged, None)
        books.dirty_traits.setdefault(survivor, set()).update(written)
        await uow.traits.of_customers.delete(ws, [merged])
        # The merged customer's counters move to the survivor (added to its own).
        moved_summary = (await uow.traits.summaries_of(ws, [merged])).get(merged)
        for summary in (moved_summary, books.added.pop(merged, None)):
            if summary is not None:
                kept = books.added.get(survivor)
                books.added[survivor] = summary if kept is None else kept.including(summary)
        await uow.traits.delete_summaries(ws, [merged])
        await self._merge_memberships(uow, books, merged, survivor)
        # Whether or not the merged customer belonged to any group.
        await uow.computed.move_buckets(ws, merged, survivor)
        await uow.profiles.record_merge(ws, merged, survivor, self.now)
        self.touched |= {merged, survivor}
        self._audience.pop(merged, None)
        self._merged_away.add(merged)
        self._audience.setdefault(survivor, Change()).everything = True
        self._note_changes(survivor, changes)
        _log.info("customer merged", extra={"workspace": ws, "customer": survivor, "count": moved})

    async def _merge_memberships(
        self, uow: ProfileUnitOfWork, books: _Books, merged: str, survivor: str
    ) -> None:
        theirs = books.memberships.pop(merged, {})
        if not theirs:
            return
        ours = books.memberships.setdefault(survivor, {})
        shared = [key for key in theirs if key in ours]
        for key, member in theirs.items():
            if key not in ours:
                ours[key] = GroupMember(survivor, member.join_time, member.source_message_id)
                books.new_members.append((key, ours[key]))
        books.new_members = [(k, m) for k, m in books.new_members if m.customer_id != merged]
        # Both were members: the group now counts one member fewer.
        missing = [key for key in shared if key not in books.groups]
        books.groups.update(await uow.groups.groups_of(self.workspace, missing))
        for key in shared:
            record = books.groups[key]
            books.groups[key] = GroupRecord(
                key,
                record.group_id,
                max(0, record.member_count - 1),
                record.create_time,
                record.update_time,
            )
            books.dirty_groups.add(key)
        await uow.groups.delete_memberships(self.workspace, [merged])

    async def _save(self, uow: ProfileUnitOfWork, books: _Books) -> None:
        ws = self.workspace
        await uow.traits.of_customers.save(
            ws,
            [
                (customer, key, books.traits[customer][key])
                for customer, keys in books.dirty_traits.items()
                for key in sorted(keys)
            ],
        )
        await uow.traits.of_groups.save(
            ws,
            [
                (group, key, books.group_traits[group][key])
                for group, keys in books.dirty_group_traits.items()
                for key in sorted(keys)
            ],
        )
        await uow.traits.add_to_summaries(ws, books.added)
        await uow.groups.save_groups(ws, [books.groups[k] for k in sorted(books.dirty_groups)])
        await uow.groups.add_members(ws, books.new_members)

    def _note_changes(self, customer_id: str, changes: Sequence[TraitChange]) -> None:
        if changes:
            keys = self._audience.setdefault(customer_id, Change()).keys
            keys.update(change.key for change in changes)
        for change in changes:
            self._signals.append(
                (SignalKind.TRAIT_CHANGED, customer_id, trait_changed_payload(change))
            )
