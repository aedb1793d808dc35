"""Traits: last writer wins by event time; ties go to the later ingested event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .model import Trait, TraitChange


def same_value(a: Any, b: Any) -> bool:
    # Compare as JSON so that true and 1.0 (equal in Python) count as different.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _newer(candidate: Trait, current: Trait) -> bool:
    return candidate.precedence > current.precedence


def apply_trait(
    traits: dict[str, Trait], key: str, candidate: Trait
) -> tuple[bool, TraitChange | None]:
    """Put ``candidate`` into ``traits`` unless the stored value is newer.

    Returns (stored, change): ``stored`` when the trait row must be written,
    ``change`` when the visible value changed.
    """
    current = traits.get(key)
    if current is not None and not _newer(candidate, current):
        return False, None
    traits[key] = candidate
    if current is not None and same_value(current.value, candidate.value):
        return True, None
    return True, TraitChange(
        key=key,
        new_value=candidate.value,
        source_message_id=candidate.source_message_id,
        had_old_value=current is not None,
        old_value=current.value if current is not None else None,
    )


def apply_event_traits(
    traits: dict[str, Trait],
    incoming: Mapping[str, Any],
    *,
    source_message_id: str,
    event_time: datetime,
    received_at: datetime,
    batch_index: int,
) -> tuple[list[str], list[TraitChange]]:
    """Apply an event's traits in place; return the keys to write and the changes."""
    written: list[str] = []
    changes: list[TraitChange] = []
    for key, value in incoming.items():
        stored, change = apply_trait(
            traits, key, Trait(value, source_message_id, event_time, received_at, batch_index)
        )
        if stored:
            written.append(key)
        if change is not None:
            changes.append(change)
    return written, changes


def merge_traits(
    survivor: dict[str, Trait], merged: Mapping[str, Trait]
) -> tuple[list[str], list[TraitChange]]:
    """Fold a merged-away customer's traits into the survivor's, in place."""
    written: list[str] = []
    changes: list[TraitChange] = []
    for key, trait in merged.items():
        stored, change = apply_trait(survivor, key, trait)
        if stored:
            written.append(key)
        if change is not None:
            changes.append(change)
    return written, changes
