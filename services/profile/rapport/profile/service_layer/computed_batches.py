"""Computed traits on ingest: a batch's events added to the buckets of the traits they
count for (in its transaction), and what that changed of the traits rules read."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.profile.adapters.computed_repository import BucketKey
from rapport.profile.domain.computed import (
    Bucket,
    ComputedTrait,
    day_number,
    first_day,
    observation,
    values_for,
)
from rapport.profile.domain.model import EventType, IncomingEvent

from .unit_of_work import ProfileUnitOfWork


def observe(
    traits: Sequence[ComputedTrait],
    items: Iterable[tuple[str, IncomingEvent, datetime]],
    added: dict[BucketKey, Bucket],
) -> set[str]:
    """Add (customer, event, event time) observations to ``added``; the customers whose
    buckets changed."""
    changed: set[str] = set()
    # A trait naming an event only sees events of that name; one naming none, any track.
    named: dict[str, list[ComputedTrait]] = {}
    unnamed: list[ComputedTrait] = []
    for trait in traits:
        if trait.event:
            named.setdefault(trait.event, []).append(trait)
        else:
            unnamed.append(trait)
    for customer, event, moment in items:
        candidates = named.get(event.event, [])
        if unnamed and event.type is EventType.TRACK:
            candidates = candidates + unnamed
        day = None
        for trait in candidates:
            counts, value = observation(trait, event)
            if not counts:
                continue
            if day is None:
                day = day_number(moment)
            key = (customer, trait.trait_id, day)
            bucket = added.get(key)
            if bucket is None:
                bucket = added[key] = Bucket()
            bucket.add(trait.kind, value, moment)
            changed.add(customer)
    return changed


@dataclass(frozen=True)
class BatchValues:
    """What a batch changed of the computed traits rules read, by customer."""

    # The values of every trait read, for customers with one of them changed.
    values: dict[str, dict[str, Any]]
    # The keys of the traits read whose buckets the batch added to.
    changed_keys: dict[str, set[str]]


async def apply_events(
    uow: ProfileUnitOfWork,
    workspace: str,
    items: Sequence[tuple[str, IncomingEvent, datetime]],
    now: datetime,
    *,
    needed_keys: Collection[str] | None = None,
) -> BatchValues:
    """The batch's events added to the buckets of the workspace's computed traits (in the
    batch's transaction, one read of the buckets it adds to, one multi-row upsert); the
    values of the traits rules read (``needed_keys``; None: all) for the customers whose
    values of those traits may have changed (one more read: their buckets in the window),
    and which of those traits changed."""
    traits = await uow.computed.all_of(workspace) if items else []
    if not traits:
        return BatchValues({}, {})
    added: dict[BucketKey, Bucket] = {}
    if not observe(traits, items, added):
        return BatchValues({}, {})
    valued = [t for t in traits if needed_keys is None or t.key in needed_keys]
    key_of = {t.trait_id: t.key for t in valued}
    changed_keys: dict[str, set[str]] = {}
    for customer, trait_id, _ in added:
        if (key := key_of.get(trait_id)) is not None:
            changed_keys.setdefault(customer, set()).add(key)
    valued_ids = set(key_of)
    customers = set(changed_keys)
    held: dict[str, dict[tuple[str, int], Bucket]] = {}
    since = 0
    if customers:
        since = min(first_day(t, now) for t in valued)
        held = await uow.computed.buckets_of(
            workspace, customers, since_day=since, trait_ids=valued_ids
        )
    # Stored buckets added to: those just read; the database adds to the others.
    stored: dict[BucketKey, Bucket] = {}
    rest: list[BucketKey] = []
    for key in added:
        customer, trait_id, day = key
        if customer in held and trait_id in valued_ids and day >= since:
            if (found := held[customer].get((trait_id, day))) is not None:
                stored[key] = found
        else:
            rest.append(key)
    merged = await uow.computed.add_to_buckets(workspace, added, stored=stored, unread=rest)
    for (customer, trait_id, day), bucket in merged.items():
        if customer in held:
            held[customer][(trait_id, day)] = bucket
    values = {c: values_for(valued, held[c], now) for c in customers}
    return BatchValues(values, changed_keys)
