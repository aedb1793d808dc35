"""The catalogue file: actions and triggers in YAML, loaded at start-up.

This module only reads the file and turns it into drafts; the drafts are
validated by the same code as CreateAction / CreateTrigger (the service layer's
load_catalogue), with field paths that point into the file (``actions[1].purpose``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from rapport.decisioning.domain.catalogue import Catalogue, CatalogueAction, CatalogueTrigger
from rapport.decisioning.domain.model import ActionDraft, Channel, MessageContent, TriggerDraft
from rapport.decisioning.domain.validation import ActionFields, TriggerFields
from rapport.errors import InvalidArgument
from rapport.resourcenames import DEFAULT_WORKSPACE

_TOP_KEYS = {"workspace", "actions", "triggers"}
_ACTION_KEYS = {
    "id",
    "display_name",
    "description",
    "channels",
    "purpose",
    "value",
    "lever",
    "base_propensity",
    "eligibility",
    "content",
    "start_time",
    "end_time",
}
_CONTENT_KEYS = {"subject", "text_body", "html_body"}
_TRIGGER_KEYS = {"id", "event_name", "condition", "action", "channel"}


class CatalogueFileError(Exception):
    """The file cannot be used; the message names the file and the place in it."""


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_keys(mapping: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in mapping:
        if key not in allowed:
            where = _at(path, str(key))
            expected = ", ".join(sorted(allowed))
            raise InvalidArgument(where, f"unknown key (expected one of {expected})")


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(path, "must be a mapping")
    return value


def _string(mapping: dict[str, Any], key: str, path: str) -> str:
    value = mapping.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(_at(path, key), "must be a string")
    return value


def _number(mapping: dict[str, Any], key: str, path: str) -> float:
    value = mapping.get(key)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(_at(path, key), "must be a number")
    return float(value)


def _list(mapping: dict[str, Any], key: str, path: str) -> list[Any]:
    value = mapping.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(_at(path, key), "must be a list")
    return value


def _time(mapping: dict[str, Any], key: str, path: str) -> datetime | None:
    value = mapping.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as err:
            raise InvalidArgument(_at(path, key), "must be an ISO 8601 time") from err
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise InvalidArgument(_at(path, key), "must be an ISO 8601 time")
    # A time without an offset is taken as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _channel(value: Any) -> Channel | None:
    try:
        return Channel(value)
    except ValueError:
        return None


def _action(entry: Any, path: str) -> CatalogueAction:
    mapping = _mapping(entry, path)
    _check_keys(mapping, _ACTION_KEYS, path)
    channels = _list(mapping, "channels", path)
    content = mapping.get("content")
    content = _mapping({} if content is None else content, f"{path}.content")
    _check_keys(content, _CONTENT_KEYS, f"{path}.content")
    draft = ActionDraft(
        display_name=_string(mapping, "display_name", path),
        description=_string(mapping, "description", path),
        channels=[_channel(c) for c in channels],
        purpose=_string(mapping, "purpose", path),
        value=_number(mapping, "value", path),
        lever=_number(mapping, "lever", path),
        base_propensity=_number(mapping, "base_propensity", path),
        eligibility=_string(mapping, "eligibility", path),
        content=MessageContent(
            subject=_string(content, "subject", f"{path}.content"),
            text_body=_string(content, "text_body", f"{path}.content"),
            html_body=_string(content, "html_body", f"{path}.content"),
        ),
        start_time=_time(mapping, "start_time", path),
        end_time=_time(mapping, "end_time", path),
    )
    return CatalogueAction(
        action_id=_string(mapping, "id", path),
        draft=draft,
        fields=ActionFields(action_id=f"{path}.id", action=path),
    )


def _trigger(entry: Any, path: str) -> CatalogueTrigger:
    mapping = _mapping(entry, path)
    _check_keys(mapping, _TRIGGER_KEYS, path)
    draft = TriggerDraft(
        event_name=_string(mapping, "event_name", path),
        condition=_string(mapping, "condition", path),
        action_id=_string(mapping, "action", path),
        channel=_channel(mapping.get("channel")),
    )
    return CatalogueTrigger(
        trigger_id=_string(mapping, "id", path),
        draft=draft,
        fields=TriggerFields(trigger_id=f"{path}.id", trigger=path),
    )


def parse_catalogue(data: Any) -> Catalogue:
    """The catalogue of a parsed YAML document, or InvalidArgument naming the place."""
    if data is None:
        data = {}
    top = _mapping(data, "(top level)")
    _check_keys(top, _TOP_KEYS, "")
    workspace = _string(top, "workspace", "") if "workspace" in top else DEFAULT_WORKSPACE
    actions = _list(top, "actions", "")
    triggers = _list(top, "triggers", "")
    return Catalogue(
        workspace=workspace or DEFAULT_WORKSPACE,
        actions=tuple(_action(a, f"actions[{i}]") for i, a in enumerate(actions)),
        triggers=tuple(_trigger(t, f"triggers[{i}]") for i, t in enumerate(triggers)),
    )


def read_catalogue(path: Path) -> Catalogue:
    """Read and parse the file; CatalogueFileError with a clear message when unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CatalogueFileError(f"catalogue file {path}: cannot be read: {err.strerror}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CatalogueFileError(f"catalogue file {path}: not valid YAML: {err}") from err
    try:
        return parse_catalogue(data)
    except InvalidArgument as err:
        raise CatalogueFileError(f"catalogue file {path}: {err.message}") from err
