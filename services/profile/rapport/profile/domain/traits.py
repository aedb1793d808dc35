"""Traits: last writer wins by event time; ties go to the later ingested event.

A removal (RemoveTraits, or a trait sent as ``null``) is kept as a trait of its own
with ``removed`` set: it wins and loses by the same rule, so an event older than the
removal that arrives later cannot bring the value back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .model import Trait, TraitChange, TraitSource

_NO_SOURCE = TraitSource()


def same_value(a: Any, b: Any) -> bool:
    # Compare as JSON so that true and 1.0 (equal in Python) count as different; plain
    # values of one type (most traits) compare directly.
    if type(a) is type(b) and isinstance(a, str | int | float):
        return a == b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def visible(traits: Mapping[str, Trait]) -> dict[str, Trait]:
    """The traits a reader sees: removals left out."""
    return {key: trait for key, trait in traits.items() if not trait.removed}


def apply_trait(
    traits: dict[str, Trait], key: str, candidate: Trait
) -> tuple[bool, TraitChange | None]:
    """Put ``candidate`` into ``traits`` unless the stored one is newer.

    Returns (stored, change): ``stored`` when the trait row must be written,
    ``change`` when what a reader sees changed.
    """
    current = traits.get(key)
    if current is not None and candidate.precedence <= current.precedence:
        return False, None
    traits[key] = candidate
    had_value = current is not None and not current.removed
    if candidate.removed and not had_value:
        return True, None
    if had_value and not candidate.removed and same_value(current.value, candidate.value):
        return True, None
    return True, TraitChange(
        key=key,
        new_value=None if candidate.removed else candidate.value,
        source_message_id=candidate.source_message_id,
        had_old_value=had_value,
        old_value=current.value if had_value and current is not None else None,
        removed=candidate.removed,
        source=candidate.source,
    )


def apply_traits(
    traits: dict[str, Trait], candidates: Iterable[tuple[str, Trait]]
) -> tuple[list[str], list[TraitChange]]:
    """Apply each (key, trait) in place; return the keys to write and the changes."""
    written: list[str] = []
    changes: list[TraitChange] = []
    for key, candidate in candidates:
        stored, change = apply_trait(traits, key, candidate)
        if stored:
            written.append(key)
        if change is not None:
            changes.append(change)
    return written, changes


def apply_event_traits(
    traits: dict[str, Trait],
    incoming: Mapping[str, Any],
    *,
    source_message_id: str,
    event_time: datetime,
    received_at: datetime,
    batch_index: int,
    source: TraitSource = _NO_SOURCE,
) -> tuple[list[str], list[TraitChange]]:
    """Apply an event's traits in place (``None`` removes); the keys to write and the
    changes."""
    return apply_traits(
        traits,
        (
            (
                key,
                Trait(
                    value,
                    source_message_id,
                    event_time,
                    received_at,
                    batch_index,
                    source=source,
                    removed=value is None,
                ),
            )
            for key, value in incoming.items()
        ),
    )


def remove_traits(
    traits: dict[str, Trait], keys: Iterable[str], *, now: datetime, method: str
) -> tuple[list[str], list[TraitChange]]:
    """Remove ``keys`` as of ``now`` (a call of ``method``), in place."""
    removal = Trait(None, "", now, now, 0, source=TraitSource(method=method), removed=True)
    return apply_traits(traits, ((key, removal) for key in keys))


def merge_traits(
    survivor: dict[str, Trait], merged: Mapping[str, Trait]
) -> tuple[list[str], list[TraitChange]]:
    """Fold a merged-away customer's traits (removals too) into the survivor's, in place."""
    return apply_traits(survivor, merged.items())
