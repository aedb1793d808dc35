"""Tracking plans: JSON Schemas (draft 2020-12) per track event name and for identify
traits, checked when saved and compiled once per plan revision.

An event breaks a plan by being unplanned (a track event whose name the plan does not
list), missing a required property, holding one of the wrong type, one the schema
does not allow, or another value a schema keyword refuses.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from rapport.errors import InvalidArgument

from .model import EventType, IncomingEvent
from .plan_schemas import PlanSchemaValidator, RegexRefused, check_patterns

MAX_EVENT_SCHEMAS = 500
MAX_SCHEMA_CHARS = 64 * 1024
MAX_EVENT_NAME = 200
# Violations recorded per event at most (a huge event cannot flood the counts).
MAX_VIOLATIONS_PER_EVENT = 10


class Enforcement(StrEnum):
    FLAG = "flag"
    BLOCK = "block"


class ViolationKind(StrEnum):
    UNPLANNED_EVENT = "unplanned_event"
    MISSING_REQUIRED_PROPERTY = "missing_required_property"
    WRONG_TYPE = "wrong_type"
    ADDITIONAL_PROPERTY = "additional_property"
    INVALID_VALUE = "invalid_value"


@dataclass(frozen=True)
class TrackingPlan:
    workspace: str
    plan_id: str
    display_name: str
    enforcement: Enforcement
    event_schemas: dict[str, dict[str, Any]]
    identify_schema: dict[str, Any] | None
    revision_id: int
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Violation:
    plan_id: str
    event_type: EventType
    event_name: str
    kind: ViolationKind
    # Path in the event, e.g. `properties.price`.
    field: str
    description: str


@dataclass(frozen=True)
class ViolationCount:
    event_type: EventType
    event_name: str
    kind: ViolationKind
    field: str
    count: int
    description: str
    last_message_id: str
    last_time: datetime


def _walk_refs(schema: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref":
                yield path, value
            yield from _walk_refs(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _walk_refs(value, f"{path}[{i}]")


def _resolves(schema: Any, ref: str) -> bool:
    target = schema
    for raw in ref[2:].split("/") if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return False
    return True


def check_schema(schema: dict[str, Any], path: str) -> None:
    """InvalidArgument naming the path of what is wrong in the schema."""
    if len(repr(schema)) > MAX_SCHEMA_CHARS:
        raise InvalidArgument(path, f"the schema is over {MAX_SCHEMA_CHARS // 1024} KiB")
    for where, ref in _walk_refs(schema, path):
        # Nothing is fetched: only references inside the schema itself, that resolve.
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise InvalidArgument(
                f"{where}.$ref", "only local JSON pointers (# or #/...) are allowed"
            )
        if not _resolves(schema, ref):
            raise InvalidArgument(f"{where}.$ref", f"{ref} points nowhere in the schema")
    try:
        PlanSchemaValidator.check_schema(schema)
        # Patterns run with RE2 (plan_schemas): refuse what it cannot run now.
        check_patterns(schema, path)
        PlanSchemaValidator(schema).is_valid({})
    except RegexRefused as err:
        raise InvalidArgument(err.where, err.reason) from None
    except SchemaError as err:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        raise InvalidArgument(f"{path}{where}", f"not a valid JSON Schema: {err.message}") from None
    except (re.error, RecursionError, ValueError, TypeError, LookupError) as err:
        raise InvalidArgument(path, f"not a usable JSON Schema: {err}") from None


def check_plan(
    display_name: str,
    enforcement: Enforcement | None,
    event_schemas: Mapping[str, dict[str, Any]],
    identify_schema: dict[str, Any] | None,
    prefix: str,
) -> None:
    if len(display_name) > 200:
        raise InvalidArgument(f"{prefix}.display_name", "must be at most 200 characters")
    if enforcement is None:
        raise InvalidArgument(f"{prefix}.enforcement", "must be FLAG or BLOCK")
    if len(event_schemas) > MAX_EVENT_SCHEMAS:
        raise InvalidArgument(f"{prefix}.event_schemas", f"at most {MAX_EVENT_SCHEMAS} events")
    for name, schema in event_schemas.items():
        if not name or len(name) > MAX_EVENT_NAME or "\x00" in name:
            raise InvalidArgument(
                f"{prefix}.event_schemas", f"event names are 1 to {MAX_EVENT_NAME} characters"
            )
        check_schema(schema, f'{prefix}.event_schemas["{name}"]')
    if identify_schema is not None:
        check_schema(identify_schema, f"{prefix}.identify_schema")


def _field(prefix: str, error: ValidationError, extra: str | None = None) -> str:
    path = prefix + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
    )
    return f"{path}.{extra}" if extra else path


def _classify(error: ValidationError, prefix: str) -> list[tuple[ViolationKind, str, str]]:
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [r for r in error.validator_value if r not in instance]
        return [
            (ViolationKind.MISSING_REQUIRED_PROPERTY, _field(prefix, error, m), error.message)
            for m in missing or [""]
        ]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = (
            set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        )
        extra = sorted(k for k in instance if k not in allowed) or [""]
        return [
            (ViolationKind.ADDITIONAL_PROPERTY, _field(prefix, error, k), error.message)
            for k in extra
        ]
    if error.validator == "type":
        return [(ViolationKind.WRONG_TYPE, _field(prefix, error), error.message)]
    return [(ViolationKind.INVALID_VALUE, _field(prefix, error), error.message)]


@dataclass
class CompiledPlan:
    plan: TrackingPlan
    validators: dict[str, Validator] = field(default_factory=dict)
    identify: Validator | None = None

    def check(self, event: IncomingEvent) -> list[Violation]:
        """The event's violations of this plan (none for events it does not cover)."""
        plan = self.plan
        if event.type is EventType.TRACK:
            validator = self.validators.get(event.event)
            if validator is None:
                description = f"the plan does not list the event {event.event!r}"
                return [
                    Violation(plan.plan_id, EventType.TRACK, event.event,
                              ViolationKind.UNPLANNED_EVENT, "event", description)
                ]  # fmt: skip
            return self._run(validator, event.properties or {}, "properties", event)
        if event.type is EventType.IDENTIFY and self.identify is not None:
            return self._run(self.identify, event.traits or {}, "traits", event)
        return []

    def _run(
        self, validator: Validator, instance: Any, prefix: str, event: IncomingEvent
    ) -> list[Violation]:
        found: list[Violation] = []
        event_type = event.type or EventType.TRACK
        name = event.event if event_type is EventType.TRACK else ""
        try:
            for error in validator.iter_errors(instance):
                for kind, where, description in _classify(error, prefix):
                    found.append(
                        Violation(self.plan.plan_id, event_type, name, kind, where, description)
                    )
                if len(found) >= MAX_VIOLATIONS_PER_EVENT:
                    break
        except Exception:  # noqa: BLE001 - the schema's fault, never the event's
            # A schema that cannot be applied (a reference loop, a pattern the regex
            # engine refuses...): the event is not blamed for it.
            return found
        return found[:MAX_VIOLATIONS_PER_EVENT]


class PlanCompiler:
    """Compiled plans, one per (workspace, plan, revision), bounded. An entry serves only
    the plan it was compiled from: a plan deleted and created again under its id starts
    again at revision 1 with other schemas."""

    def __init__(self, max_plans: int = 256) -> None:
        self._plans: OrderedDict[tuple[str, str, int], CompiledPlan] = OrderedDict()
        self._max = max_plans

    def compiled(self, plan: TrackingPlan) -> CompiledPlan:
        key = (plan.workspace, plan.plan_id, plan.revision_id)
        found = self._plans.get(key)
        if found is not None and found.plan == plan:
            self._plans.move_to_end(key)
            return found
        found = CompiledPlan(
            plan,
            {name: PlanSchemaValidator(s) for name, s in plan.event_schemas.items()},
            PlanSchemaValidator(plan.identify_schema) if plan.identify_schema is not None else None,
        )
        self._plans[key] = found
        if len(self._plans) > self._max:
            self._plans.popitem(last=False)
        return found
