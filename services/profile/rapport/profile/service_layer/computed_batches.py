"""Computed traits on ingest: a batch's events added to the buckets of the traits they
count for (in its transaction), and what that changed of the traits rules read."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.profile.adapters.computed_repository import BucketKey
from rapport.profile.domain.computed import (
    Bucket,
    ComputedTrait,
    Observer,
    day_number,
    first_day,
    values_for,
)
from rapport.profile.domain.model import EventType, IncomingEvent

from .unit_of_work import ProfileUnitOfWork

# (an item's position among those observed, a trait id) -> whether the item is left out
# of that trait's buckets (counted by the trait's unfinished backfill instead).
LeftOut = Callable[[int, str], bool]


def observe(
    traits: Sequence[ComputedTrait],
    items: Iterable[tuple[str, IncomingEvent, datetime]],
    added: dict[BucketKey, Bucket],
    *,
    left_out: LeftOut | None = None,
) -> set[str]:
    """Add (customer, event, event time) observations to ``added``; the customers whose
    buckets changed."""
    changed: set[str] = set()
    # A trait naming an event only sees events of that name; one naming none, any track.
    named: dict[str, list[Observer]] = {}
    unnamed: list[Observer] = []
    for trait in traits:
        if trait.event:
            named.setdefault(trait.event, []).append(Observer(trait))
        else:
            unnamed.append(Observer(trait))
    track = EventType.TRACK
    for position, (customer, event, moment) in enumerate(items):
        candidates = named.get(event.event, ())
        if unnamed and event.type is track:
            candidates = [*candidates, *unnamed]
        day = None
        for observer in candidates:
            if left_out is not None and left_out(position, observer.trait.trait_id):
                continue
            counts, value = observer.observation(event)
            if not counts:
                continue
            if day is None:
                day = day_number(moment)
            key = (customer, observer.trait.trait_id, day)
            bucket = added.get(key)
            if bucket is None:
                bucket = added[key] = Bucket()
            observer.add(bucket, value, moment)
            changed.add(customer)
    return changed


@dataclass(frozen=True)
class BatchValues:
    """What a batch changed of the computed traits rules read, by customer."""

    # The values of the traits read, for customers with one of them changed.
    values: dict[str, dict[str, Any]]
    # The keys of the traits read whose buckets the batch added to.
    changed_keys: dict[str, set[str]]
    # The keys ``values`` holds a customer's values of (absent: every key read).
    covered: dict[str, frozenset[str]] = field(default_factory=dict)


# (customer, keys of its traits read that the batch changed) -> the keys whose values
# the caller needs (None: every key read).
KeysWanted = Callable[[str, set[str]], Collection[str] | None]


async def apply_events(
    uow: ProfileUnitOfWork,
    workspace: str,
    items: Sequence[tuple[str, IncomingEvent, datetime]],
    now: datetime,
    *,
    needed_keys: Collection[str] | None = None,
    wanted: KeysWanted | None = None,
    left_out: LeftOut | None = None,
) -> BatchValues:
    """The batch's events added to the buckets of the workspace's computed traits (in the
    batch's transaction, one read of the buckets it adds to, one multi-row upsert); the
    values of the traits rules read (``needed_keys``; None: all) for the customers whose
    values of those traits may have changed (one more read: their buckets in the window;
    of the keys ``wanted`` names only, when given), and which of those traits changed.
    ``left_out``: observations not added (see LeftOut)."""
    traits = await uow.computed.all_of(workspace) if items else []
    if not traits:
        return BatchValues({}, {})
    added: dict[BucketKey, Bucket] = {}
    if not observe(traits, items, added, left_out=left_out):
        return BatchValues({}, {})
    valued = [t for t in traits if needed_keys is None or t.key in needed_keys]
    key_of = {t.trait_id: t.key for t in valued}
    changed_keys: dict[str, set[str]] = {}
    for customer, trait_id, _ in added:
        if (key := key_of.get(trait_id)) is not None:
            changed_keys.setdefault(customer, set()).add(key)
    # The traits valued per customer, and customers grouped by them (a read each).
    covered: dict[str, frozenset[str]] = {}
    groups: dict[tuple[str, ...], list[str]] = {}
    everything = tuple(t.trait_id for t in valued)
    for customer, keys in changed_keys.items():
        keep = None if wanted is None else wanted(customer, keys)
        if keep is None:
            groups.setdefault(everything, []).append(customer)
            continue
        covered[customer] = frozenset(keep)
        ids = tuple(t.trait_id for t in valued if t.key in covered[customer])
        groups.setdefault(ids, []).append(customer)
    held: dict[str, dict[tuple[str, int], Bucket]] = {}
    # Customer -> (the trait ids read, the first day read).
    read: dict[str, tuple[frozenset[str], int]] = {}
    by_id = {t.trait_id: t for t in valued}
    for ids, customers in groups.items():
        if not ids:
            held.update((c, {}) for c in customers)
            continue
        since = min(first_day(by_id[i], now) for i in ids)
        held.update(
            await uow.computed.buckets_of(workspace, customers, since_day=since, trait_ids=ids)
        )
        what = (frozenset(ids), since)
        read.update((c, what) for c in customers)
    # Stored buckets added to: those just read; the database adds to the others.
    stored: dict[BucketKey, Bucket] = {}
    rest: list[BucketKey] = []
    for key in added:
        customer, trait_id, day = key
        ids_since = read.get(customer)
        if ids_since is not None and trait_id in ids_since[0] and day >= ids_since[1]:
            if (found := held[customer].get((trait_id, day))) is not None:
                stored[key] = found
        else:
            rest.append(key)
    merged = await uow.computed.add_to_buckets(workspace, added, stored=stored, unread=rest)
    for (customer, trait_id, day), bucket in merged.items():
        if customer in held:
            held[customer][(trait_id, day)] = bucket
    values = {
        c: values_for(
            valued if c not in covered else [t for t in valued if t.key in covered[c]],
            held[c],
            now,
        )
        for c in changed_keys
    }
    return BatchValues(values, changed_keys, covered)
