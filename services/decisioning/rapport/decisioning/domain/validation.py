"""Validation of actions and triggers, shared by the RPCs and the catalogue file.

Field paths differ between the two (``action.purpose`` in a request,
``actions[2].purpose`` in the file), so each check takes the path to report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from rapport.errors import InvalidArgument

from .model import Action, ActionDraft, Channel, MessageContent, Trigger, TriggerDraft
from .rules import MAX_EXPRESSION_CHARS, RuleBook, RuleSyntaxError

RESOURCE_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
PURPOSE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
MAX_EVENT_NAME_CHARS = 256
MAX_TEXT_CHARS = 10_000
MAX_TEMPLATE_CHARS = 100_000
# Value and lever: far below the largest double, so that priority (their product
# with a propensity <= 1) stays finite.
MAX_AMOUNT = 1e12
DEFAULT_LEVER = 1.0
DEFAULT_PROPENSITY = 0.5

_CHANNEL_NAMES = ", ".join(c.value for c in Channel)


@dataclass(frozen=True)
class ActionFields:
    """Where each part of an action is, for error messages."""

    action_id: str = "action_id"
    action: str = "action"

    def __call__(self, part: str) -> str:
        return f"{self.action}.{part}"


@dataclass(frozen=True)
class TriggerFields:
    trigger_id: str = "trigger_id"
    trigger: str = "trigger"

    def __call__(self, part: str) -> str:
        return f"{self.trigger}.{part}"


def _text(value: str, field: str, max_chars: int) -> str:
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
            raise InvalidArgument(f"{field}[{index}]", f"must be one of {_CHANNEL_NAMES}")
        if channel in seen:
            raise InvalidArgument(f"{field}[{index}]", f"{channel.value} is listed twice")
        seen.append(channel)
    return tuple(seen)


def validate_purpose(purpose: str, field: str) -> str:
    if not purpose:
        raise InvalidArgument(field, "is required (the consent purpose, e.g. marketing)")
    if not PURPOSE.fullmatch(purpose):
        raise InvalidArgument(
            field,
            "must be 1 to 64 lower-case letters, digits, '_', '.' or '-', starting with a letter",
        )
    return purpose


def validate_rule(rules: RuleBook, expression: str, field: str) -> str:
    _text(expression, field, MAX_EXPRESSION_CHARS)
    if expression.strip():
        try:
            rules.compile(expression)
        except RuleSyntaxError as err:
            raise InvalidArgument(field, f"is not a valid CEL expression: {err}") from err
    return expression


_templates = SandboxedEnvironment()


def validate_template(template: str, field: str) -> str:
    _text(template, field, MAX_TEMPLATE_CHARS)
    try:
        _templates.parse(template)
    except TemplateSyntaxError as err:
        raise InvalidArgument(
            field, f"is not a valid template (line {err.lineno}): {err.message}"
        ) from err
    except RecursionError:  # the parser recurses once per nested expression or block
        raise InvalidArgument(field, "is nested too deeply to be a template") from None
    return template


def _finite(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise InvalidArgument(field, "must be a finite number")
    return value


def _amount(value: float, field: str) -> float:
    if _finite(value, field) > MAX_AMOUNT:
        raise InvalidArgument(field, f"must be at most {MAX_AMOUNT:g}")
    return value


def validate_action(
    workspace: str,
    action_id: str,
    draft: ActionDraft,
    rules: RuleBook,
    *,
    create_time: datetime,
    fields: ActionFields | None = None,
) -> Action:
    """The action with its defaults applied, or InvalidArgument naming the first bad field."""
    f = fields or ActionFields()
    validate_resource_id(action_id, f.action_id)
    _text(draft.display_name, f("display_name"), MAX_TEXT_CHARS)
    _text(draft.description, f("description"), MAX_TEXT_CHARS)
    channels = validate_channels(draft.channels, f("channels"))
    purpose = validate_purpose(draft.purpose, f("purpose"))

    value = _amount(draft.value, f("value"))
    if value <= 0:
        raise InvalidArgument(f("value"), "must be positive")
    lever = _amount(draft.lever, f("lever"))
    if lever < 0:
        raise InvalidArgument(f("lever"), "must not be negative (0 means 1)")
    propensity = _finite(draft.base_propensity, f("base_propensity"))
    if not 0 <= propensity <= 1:
        raise InvalidArgument(f("base_propensity"), "must be between 0 and 1 (0 means 0.5)")

    eligibility = validate_rule(rules, draft.eligibility, f("eligibility"))

    if (
        draft.start_time is not None
        and draft.end_time is not None
        and not draft.start_time < draft.end_time
    ):
        raise InvalidArgument(f("end_time"), "must be after start_time")

    content = draft.content
    if Channel.EMAIL in channels and not content.subject.strip():
        raise InvalidArgument(f("content.subject"), "is required for the email channel")
    messaging = [c.value for c in channels if c.needs_text_body]
    if messaging and not content.text_body.strip():
        raise InvalidArgument(
            f("content.text_body"), f"is required for the {', '.join(messaging)} channel(s)"
        )
    for part in ("subject", "text_body", "html_body"):
        validate_template(getattr(content, part), f(f"content.{part}"))

    return Action(
        workspace=workspace,
        action_id=action_id,
        display_name=draft.display_name,
        description=draft.description,
        channels=channels,
        purpose=purpose,
        value=value,
        lever=lever or DEFAULT_LEVER,
        base_propensity=propensity or DEFAULT_PROPENSITY,
        eligibility=eligibility,
        content=MessageContent(content.subject, content.text_body, content.html_body),
        start_time=draft.start_time,
        end_time=draft.end_time,
        create_time=create_time,
    )


def validate_trigger(
    workspace: str,
    trigger_id: str,
    draft: TriggerDraft,
    action: Action | None,
    rules: RuleBook,
    *,
    create_time: datetime,
    fields: TriggerFields | None = None,
) -> Trigger:
    """The trigger, or InvalidArgument; `action` is the one the draft names, None if absent."""
    f = fields or TriggerFields()
    validate_resource_id(trigger_id, f.trigger_id)
    if not draft.event_name.strip():
        raise InvalidArgument(f("event_name"), "is required (the track event's name)")
    _text(draft.event_name, f("event_name"), MAX_EVENT_NAME_CHARS)
    condition = validate_rule(rules, draft.condition, f("condition"))
    if not draft.action_id:
        raise InvalidArgument(f("action"), "is required")
    if action is None:
        raise InvalidArgument(f("action"), "no such action")
    channel = draft.channel
    if channel is None:
        raise InvalidArgument(f("channel"), f"must be one of {_CHANNEL_NAMES}")
    if not channel.can_be_sent:
        raise InvalidArgument(f("channel"), "inbound actions are shown, not sent")
    if channel not in action.channels:
        offered = ", ".join(c.value for c in action.channels)
        raise InvalidArgument(f("channel"), f"must be one of the action's channels ({offered})")
    return Trigger(
        workspace=workspace,
        trigger_id=trigger_id,
        event_name=draft.event_name,
        condition=condition,
        action_id=draft.action_id,
        channel=channel,
        create_time=create_time,
    )
