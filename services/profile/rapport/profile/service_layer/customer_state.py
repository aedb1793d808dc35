"""A customer's whole state, moved, rebuilt or erased at once: what identity's merges,
unmerges and erasures, EraseProfile and the inactivity sweep change.

``recompute_derived_state`` is THE place state derived from a customer's events and
traits is brought up to date after such a change (the counters today; computed traits,
segments and life stages hook in here), and ``derived_export`` / ``erase_derived_state``
where that state is exported and erased.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.profile.adapters.group_repository import GroupRecord
from rapport.profile.adapters.hygiene_repository import EventRow
from rapport.profile.domain import names
from rapport.profile.domain.documents import event_from_document
from rapport.profile.domain.ingestion import trait_source
from rapport.profile.domain.model import EventType, GroupMember, Trait
from rapport.profile.domain.traits import apply_event_traits

from .audiences import Change, apply_changes
from .computed_batches import apply_events as apply_computed
from .computed_traits import values_of
from .unit_of_work import ProfileUnitOfWork


@dataclass(frozen=True)
class Erased:
    workspace: str
    customer_id: str
    event_count: int
    trait_count: int
    # The customers merged into it (their aliases went with it).
    merged_customer_ids: tuple[str, ...] = ()


async def recompute_derived_state(
    uow: ProfileUnitOfWork, workspace: str, customer_ids: Collection[str], now: datetime
) -> int:
    """Bring what is derived from these customers' events and traits up to date after
    their events moved (an unmerge): the counters (event count, first and last seen),
    the computed traits' buckets (rebuilt from the events stored now), then life stages
    and segment memberships re-evaluated, their signals logged. A customer left without
    events loses its counters (and so its profile). The number of signals logged.
    The caller holds the customers' locks."""
    if not customer_ids:
        return 0
    summaries = await uow.hygiene.event_summaries(workspace, customer_ids)
    gone = sorted(set(customer_ids) - set(summaries))
    if gone:
        await uow.traits.delete_summaries(workspace, gone)
    await uow.hygiene.replace_summaries(workspace, summaries)
    await uow.computed.forget_customers(workspace, customer_ids)
    items = []
    seqs: list[int] = []
    for customer_id in sorted(summaries):
        for row in await uow.hygiene.events_of(workspace, customer_id):
            event = event_from_document(
                row.document, type=EventType(row.type), message_id=row.message_id
            )
            items.append((customer_id, event, row.timestamp))
            seqs.append(int(row.seq))
    # Events a trait's unfinished backfill has still to count are left to it (it counts
    # them for the customer they belong to when it reaches them), or they would count
    # twice. Read after the customers' locks: a backfill chunk counting their events
    # holds them until it commits its position.
    unfinished = await uow.backfills.unfinished_ranges(workspace)

    def left_to_backfill(position: int, trait_id: str) -> bool:
        seq = seqs[position]
        return any(after < seq <= upto for after, upto in unfinished.get(trait_id, ()))

    changed = (
        await apply_computed(
            uow, workspace, items, now, left_out=left_to_backfill if unfinished else None
        )
    ).values
    outcome = await apply_changes(
        uow,
        workspace,
        now,
        {c: Change(everything=True, computed=c in changed) for c in sorted(summaries)},
        merged_away=gone,
    )
    if outcome.signals:
        await uow.profiles.lock_signal_log()
        await uow.profiles.append_signals(workspace, outcome.signals, now)
    return len(outcome.signals)


async def derived_export(
    uow: ProfileUnitOfWork, workspace: str, customer_id: str, now: datetime
) -> dict[str, Any]:
    """Sections of an export for state derived from the customer's data (by section
    name): computed traits, life stage, segments. The counters are the caller's."""
    segments = (await uow.segments.memberships_of(workspace, [customer_id]))[customer_id]
    stages = await uow.segments.states_of(workspace, [customer_id])
    computed = (await values_of(uow, workspace, [customer_id], now)).get(customer_id, {})
    return {
        "computed_traits": computed,
        "life_stage": stages.get(customer_id, ""),
        "segments": sorted(names.segment_name(workspace, s) for s in segments),
    }


async def erase_derived_state(uow: ProfileUnitOfWork, workspace: str, customer_id: str) -> None:
    """Erase state derived from the customer's data: counters, computed traits' buckets,
    segment memberships and life stage."""
    await uow.traits.delete_summaries(workspace, [customer_id])
    await uow.computed.forget_customers(workspace, [customer_id])
    await uow.segments.forget_customers(workspace, [customer_id])


async def erase_customer(
    uow: ProfileUnitOfWork, workspace: str, customer_id: str, now: datetime
) -> Erased:
    """Delete everything held on the customer (its events, message ids, traits,
    counters, memberships, signals, merge records); idempotent. It and the customers
    merged into it get a tombstone: an ingest that resolved its events to one of them
    before this commits finds it under the customer's lock (ingestion.py)."""
    await uow.profiles.lock_customers(workspace, [customer_id])
    merged = tuple(await uow.hygiene.merged_into(workspace, customer_id))
    await uow.erasures.record(workspace, [customer_id, *merged], now)
    traits = (await uow.traits.of_customers.read(workspace, [customer_id]))[customer_id]
    await uow.traits.of_customers.delete(workspace, [customer_id])
    await _leave_groups(uow, workspace, customer_id, set(), now)
    events = await uow.hygiene.delete_customer_records(workspace, customer_id)
    await erase_derived_state(uow, workspace, customer_id)
    # A merge used to leave the merged customer's buckets behind when it belonged to no
    # group: they hold its property values (unique lists, first and last values).
    await uow.computed.forget_customers(workspace, merged)
    return Erased(
        workspace, customer_id, events, sum(not t.removed for t in traits.values()), merged
    )


async def rebuild_from_events(
    uow: ProfileUnitOfWork,
    workspace: str,
    events_by_customer: Mapping[str, list[EventRow]],
    now: datetime,
) -> None:
    """Rebuild the traits and group memberships of each customer from its events (after
    an unmerge moved some): identify events' traits in event order, newest value wins;
    removals made by RemoveTraits are kept."""
    customers = list(events_by_customer)
    await uow.profiles.lock_customers(workspace, customers)
    held = await uow.traits.of_customers.read(workspace, customers)
    for customer_id, rows in events_by_customer.items():
        traits: dict[str, Trait] = {
            key: trait for key, trait in held[customer_id].items() if trait.source.method
        }
        groups: dict[str, GroupMember] = {}
        group_ids: dict[str, str] = {}
        for row in sorted(rows, key=lambda r: (r.timestamp, r.received_at, r.seq)):
            event = event_from_document(
                row.document, type=EventType(row.type), message_id=row.message_id
            )
            if event.type is EventType.IDENTIFY and event.traits:
                apply_event_traits(
                    traits,
                    event.traits,
                    source_message_id=row.message_id,
                    event_time=row.timestamp,
                    received_at=row.received_at,
                    batch_index=0,
                    source=trait_source(event),
                )
            elif event.type is EventType.GROUP and event.group_id:
                key = names.group_key(event.group_id)
                if key not in groups:
                    groups[key] = GroupMember(customer_id, row.timestamp, row.message_id)
                    group_ids[key] = event.group_id
        await uow.traits.of_customers.delete(workspace, [customer_id])
        await uow.traits.of_customers.save(
            workspace, [(customer_id, key, traits[key]) for key in sorted(traits)]
        )
        await _leave_groups(uow, workspace, customer_id, set(groups), now)
        await _join_groups(uow, workspace, customer_id, groups, group_ids, now)


async def _leave_groups(
    uow: ProfileUnitOfWork, workspace: str, customer_id: str, keep: set[str], now: datetime
) -> None:
    """Drop the customer's memberships outside ``keep`` (member counts follow)."""
    held = (await uow.groups.memberships_of(workspace, [customer_id]))[customer_id]
    leaving = sorted(set(held) - keep)
    if not leaving:
        return
    records = await uow.groups.groups_of(workspace, leaving)
    await uow.groups.save_groups(
        workspace,
        [
            GroupRecord(r.group_key, r.group_id, max(0, r.member_count - 1), r.create_time, now)
            for r in (records[k] for k in leaving if k in records)
        ],
    )
    kept = [(key, member) for key, member in held.items() if key not in leaving]
    await uow.groups.delete_memberships(workspace, [customer_id])
    await uow.groups.add_members(workspace, kept)


async def _join_groups(
    uow: ProfileUnitOfWork,
    workspace: str,
    customer_id: str,
    wanted: Mapping[str, GroupMember],
    group_ids: Mapping[str, str],
    now: datetime,
) -> None:
    held = (await uow.groups.memberships_of(workspace, [customer_id]))[customer_id]
    joining = sorted(set(wanted) - set(held))
    if not joining:
        return
    records = await uow.groups.groups_of(workspace, joining)
    await uow.groups.save_groups(
        workspace,
        [
            GroupRecord(key, r.group_id, r.member_count + 1, r.create_time, now)
            if (r := records.get(key)) is not None
            else GroupRecord(key, group_ids[key], 1, now, now)
            for key in joining
        ],
    )
    await uow.groups.add_members(workspace, [(key, wanted[key]) for key in joining])
