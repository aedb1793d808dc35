"""Which workspaces a request message names (for workspace-scoped tokens).

A request names workspace ``w`` when any string field at any depth (repeated,
oneof, nested message, map value) is ``workspaces/{w}`` or starts with
``workspaces/{w}/``. Free-form data (Struct, Value, ListValue, Any) is not
looked into: its strings are payload, not resource names.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = ["named_workspaces"]

_PREFIX = "workspaces/"
_PREFIX_LEN = len(_PREFIX)
_FREE_FORM = frozenset(
    {
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Any",
    }
)

# One step of a plan: (field name, how to read it).
_STRING, _STRINGS, _MESSAGE, _MESSAGES, _MAP_STRINGS, _MAP_MESSAGES = range(6)
_Plan = tuple[tuple[str, int], ...]
_plans: dict[Descriptor, _Plan] = {}


def named_workspaces(message: object) -> set[str]:
    """The workspace ids that ``message`` names; empty for anything not a protobuf message."""
    found: set[str] = set()
    if isinstance(message, Message):
        _collect(message, _plan(message.DESCRIPTOR), found)
    return found


def _collect(message: Any, plan: _Plan, found: set[str]) -> None:
    # Hot path: empty repeated fields and maps are skipped by truth value, which
    # costs far less than iterating them in upb.
    for name, kind in plan:
        if kind == _MESSAGE:
            # An unset field reads as an empty default (endless on recursive types).
            if message.HasField(name):
                value = getattr(message, name)
                _collect(value, _plan(value.DESCRIPTOR), found)
            continue
        value = getattr(message, name)
        if kind == _STRING:
            if value.startswith(_PREFIX):
                found.add(value[_PREFIX_LEN:].partition("/")[0])
        elif not value:
            continue
        elif kind == _STRINGS or kind == _MAP_STRINGS:
            for item in value.values() if kind == _MAP_STRINGS else value:
                if item.startswith(_PREFIX):
                    found.add(item[_PREFIX_LEN:].partition("/")[0])
        else:
            items = value.values() if kind == _MAP_MESSAGES else value
            item_plan = None
            for item in items:
                if item_plan is None:  # all items share one type
                    item_plan = _plan(item.DESCRIPTOR)
                _collect(item, item_plan, found)


def _plan(descriptor: Descriptor) -> _Plan:
    """The fields of ``descriptor`` that can hold strings, directly or below (cached)."""
    plan = _plans.get(descriptor)
    if plan is None:
        plan = _plans[descriptor] = _build_plan(descriptor)
    return plan


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _is_repeated(field: FieldDescriptor) -> bool:
    # FieldDescriptor.label is deprecated in recent protobuf releases.
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return field.label == FieldDescriptor.LABEL_REPEATED


def _build_plan(descriptor: Descriptor) -> _Plan:
    if descriptor.full_name in _FREE_FORM:
        return ()
    steps: list[tuple[str, int]] = []
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            steps.append((field.name, _STRINGS if _is_repeated(field) else _STRING))
        elif _is_map(field):
            value = field.message_type.fields_by_name["value"]
            if value.type == FieldDescriptor.TYPE_STRING:
                steps.append((field.name, _MAP_STRINGS))
            elif value.message_type is not None and _can_hold_strings(value.message_type):
                steps.append((field.name, _MAP_MESSAGES))
        elif field.message_type is not None and _can_hold_strings(field.message_type):
            steps.append((field.name, _MESSAGES if _is_repeated(field) else _MESSAGE))
    return tuple(steps)


def _can_hold_strings(descriptor: Descriptor) -> bool:
    # A full walk with a fresh visited set (no memo of partial answers), so
    # recursive message types get the right answer; it runs once per type.
    seen: set[str] = set()
    pending = [descriptor]
    while pending:
        current = pending.pop()
        if current.full_name in _FREE_FORM or current.full_name in seen:
            continue
        seen.add(current.full_name)
        for field in current.fields:
            if _is_map(field):  # map keys are not looked at, only values
                field = field.message_type.fields_by_name["value"]
            if field.type == FieldDescriptor.TYPE_STRING:
                return True
            if field.message_type is not None:
                pending.append(field.message_type)
    return False
