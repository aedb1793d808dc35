"""The checks every item's validation is made of: ids, labels, texts, channels, rules,
templates and amounts, each reporting the field path it is given."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from rapport.errors import InvalidArgument

from .model import Channel
from .rule_helpers import HELPER_FUNCTIONS
from .rules import ENGAGEMENT_VARIABLES, MAX_EXPRESSION_CHARS, RuleBook, RuleSyntaxError

RESOURCE_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
PURPOSE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
MAX_EVENT_NAME_CHARS = 256
MAX_TEXT_CHARS = 10_000
MAX_TEMPLATE_CHARS = 100_000
MAX_TAGS = 20
# Value and lever: far below the largest double, so that priority (their product
# with a propensity <= 1, a group lever and context weights) stays finite.
MAX_AMOUNT = 1e12

CHANNEL_NAMES = ", ".join(c.value for c in Channel)


class _Fields:
    """Where each part of an item is, for error messages: ``action.purpose`` in a request,
    ``actions[2].purpose`` in a file."""

    item_id: str
    item: str

    def __call__(self, part: str) -> str:
        return f"{self.item}.{part}"


@dataclass(frozen=True)
class ActionFields(_Fields):
    action_id: str = "action_id"
    action: str = "action"

    @property
    def item_id(self) -> str:  # type: ignore[override]
        return self.action_id

    @property
    def item(self) -> str:  # type: ignore[override]
        return self.action


@dataclass(frozen=True)
class GroupFields(_Fields):
    group_id: str = "action_group_id"
    group: str = "action_group"

    @property
    def item_id(self) -> str:  # type: ignore[override]
        return self.group_id

    @property
    def item(self) -> str:  # type: ignore[override]
        return self.group


@dataclass(frozen=True)
class TriggerFields(_Fields):
    trigger_id: str = "trigger_id"
    trigger: str = "trigger"

    @property
    def item_id(self) -> str:  # type: ignore[override]
        return self.trigger_id

    @property
    def item(self) -> str:  # type: ignore[override]
        return self.trigger


Fields = _Fields


def text(value: str, field: str, max_chars: int) -> str:
    """Free text that is stored: bounded, and without NUL (PostgreSQL text cannot hold it)."""
    if len(value) > max_chars:
        raise InvalidArgument(field, f"must be at most {max_chars} characters")
    if "\x00" in value:
        raise InvalidArgument(field, "must not contain NUL characters")
    return value


def is_event_name(name: str) -> bool:
    """Whether a trigger may name this event (so whether any trigger can match it)."""
    return bool(name.strip()) and len(name) <= MAX_EVENT_NAME_CHARS and "\x00" not in name


def validate_resource_id(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if not RESOURCE_ID.fullmatch(value):
        raise InvalidArgument(
            field,
            "must be 1 to 63 lower-case letters, digits or '-', starting with a letter",
        )
    return value


def validate_channels(channels: Sequence[Channel | None], field: str) -> tuple[Channel, ...]:
    if not channels:
        raise InvalidArgument(field, "at least one channel is required")
    seen: list[Channel] = []
    for index, channel in enumerate(channels):
        if channel is None:
            raise InvalidArgument(f"{field}[{index}]", f"must be one of {CHANNEL_NAMES}")
        if channel in seen:
            raise InvalidArgument(f"{field}[{index}]", f"{channel.value} is listed twice")
        seen.append(channel)
    return tuple(seen)


def validate_purpose(purpose: str, field: str) -> str:
    if not purpose:
        raise InvalidArgument(field, "is required (the consent purpose, e.g. marketing)")
    return validate_label(purpose, field)


def validate_label(label: str, field: str) -> str:
    """A purpose, tag or issue: lower-case, stable, safe in logs."""
    if not PURPOSE.fullmatch(label):
        raise InvalidArgument(
            field,
            "must be 1 to 64 lower-case letters, digits, '_', '.' or '-', starting with a letter",
        )
    return label


def validate_labels(labels: Sequence[str], field: str, max_count: int) -> tuple[str, ...]:
    if len(labels) > max_count:
        raise InvalidArgument(field, f"at most {max_count} are allowed")
    seen: list[str] = []
    for index, label in enumerate(labels):
        validate_label(label, f"{field}[{index}]")
        if label in seen:
            raise InvalidArgument(f"{field}[{index}]", f"{label} is listed twice")
        seen.append(label)
    return tuple(seen)


def validate_rule(
    rules: RuleBook,
    expression: str,
    field: str,
    variables: Collection[str] = ENGAGEMENT_VARIABLES,
) -> str:
    """The expression, or InvalidArgument naming the field with the error's line and column
    (also in the ErrorInfo metadata)."""
    text(expression, field, MAX_EXPRESSION_CHARS)
    if expression.strip():
        try:
            rules.check(expression, variables, HELPER_FUNCTIONS)
        except RuleSyntaxError as err:
            error = InvalidArgument(field, f"is not a valid CEL expression: {err}")
            if err.line:
                error.metadata.update(line=str(err.line), column=str(err.column))
            raise error from err
    return expression


_templates = SandboxedEnvironment()


def validate_template(template: str, field: str) -> str:
    text(template, field, MAX_TEMPLATE_CHARS)
    try:
        _templates.parse(template)
    except TemplateSyntaxError as err:
        raise InvalidArgument(
            field, f"is not a valid template (line {err.lineno}): {err.message}"
        ) from err
    except RecursionError:  # the parser recurses once per nested expression or block
        raise InvalidArgument(field, "is nested too deeply to be a template") from None
    return template


def finite(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise InvalidArgument(field, "must be a finite number")
    return value


def amount(value: float, field: str) -> float:
    if finite(value, field) > MAX_AMOUNT:
        raise InvalidArgument(field, f"must be at most {MAX_AMOUNT:g}")
    return value
