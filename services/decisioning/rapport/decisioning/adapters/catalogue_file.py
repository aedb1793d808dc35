"""Configuration documents in YAML: the catalogue file loaded at start-up, ImportDecisionConfig
and ExportDecisionConfig.

Reading turns the document into drafts only; they are validated by the same code
as the RPCs (the service layer), with field paths that point into the document
(``actions[1].purpose``). Writing produces the same format, so an export imports
back to the same configuration.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rapport.decisioning.domain.catalogue import (
    Catalogue,
    CatalogueAction,
    CatalogueGroup,
    CatalogueTrigger,
)
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.model import (
    Action,
    ActionDraft,
    ActionGroupDraft,
    Channel,
    MessageContent,
    Treatment,
    Trigger,
    TriggerDraft,
    TriggerKind,
)
from rapport.decisioning.domain.signals import trigger_spec
from rapport.decisioning.domain.validation import ActionFields, GroupFields, TriggerFields
from rapport.errors import InvalidArgument
from rapport.resourcenames import DEFAULT_WORKSPACE

from . import yaml_document as doc
from .settings_document import parse_settings, settings_document

_TOP_KEYS = {"workspace", "settings", "groups", "actions", "triggers"}
_GROUP_KEYS = {
    "id",
    "display_name",
    "description",
    "issue",
    "eligibility",
    "applicability",
    "suitability",
    "lever",
}
_ACTION_KEYS = {
    "id",
    "display_name",
    "description",
    "group",
    "tags",
    "channels",
    "purpose",
    "value",
    "lever",
    "base_propensity",
    "eligibility",
    "applicability",
    "suitability",
    "content",
    "treatments",
    "start_time",
    "end_time",
}
_CONTENT_KEYS = ("subject", "text_body", "html_body")
_TREATMENT_KEYS = {"channel", "content"}
_TRIGGER_KEYS = {
    "id",
    "event_name",
    "condition",
    "action",
    "channel",
    "kind",
    "segment",
    "life_stage",
    "date_trait",
    "offset_days",
    "years_after",
    "throttle",
    "best_channel",
}
_RULES = ("eligibility", "applicability", "suitability")


class CatalogueFileError(Exception):
    """The file cannot be used; the message names the file and the place in it."""


def _channel(value: Any) -> Channel | None:
    try:
        return Channel(value)
    except (ValueError, TypeError):  # unknown, or not even hashable (a list...)
        return None


def _content(parent: dict[str, Any], path: str) -> MessageContent:
    content = doc.optional_mapping(parent, "content", path)
    where = doc.at(path, "content")
    doc.check_keys(content, set(_CONTENT_KEYS), where)
    return MessageContent(*(doc.string(content, part, where) for part in _CONTENT_KEYS))


def _treatment(entry: Any, path: str) -> Treatment:
    treatment = doc.mapping(entry, path)
    doc.check_keys(treatment, _TREATMENT_KEYS, path)
    return Treatment(_channel(treatment.get("channel")), _content(treatment, path))


def _group(entry: Any, path: str) -> CatalogueGroup:
    group = doc.mapping(entry, path)
    doc.check_keys(group, _GROUP_KEYS, path)
    draft = ActionGroupDraft(
        display_name=doc.string(group, "display_name", path),
        description=doc.string(group, "description", path),
        issue=doc.string(group, "issue", path),
        lever=doc.number(group, "lever", path),
        **{kind: doc.string(group, kind, path) for kind in _RULES},
    )
    fields = GroupFields(group_id=f"{path}.id", group=path)
    return CatalogueGroup(doc.string(group, "id", path), draft, fields)


def _action(entry: Any, path: str) -> CatalogueAction:
    action = doc.mapping(entry, path)
    doc.check_keys(action, _ACTION_KEYS, path)
    draft = ActionDraft(
        display_name=doc.string(action, "display_name", path),
        description=doc.string(action, "description", path),
        channels=[_channel(c) for c in doc.items(action, "channels", path)],
        purpose=doc.string(action, "purpose", path),
        value=doc.number(action, "value", path),
        lever=doc.number(action, "lever", path),
        base_propensity=doc.number(action, "base_propensity", path),
        content=_content(action, path),
        start_time=doc.time(action, "start_time", path),
        end_time=doc.time(action, "end_time", path),
        group_id=doc.string(action, "group", path),
        treatments=[
            _treatment(t, f"{path}.treatments[{i}]")
            for i, t in enumerate(doc.items(action, "treatments", path))
        ],
        tags=doc.strings(action, "tags", path),
        **{kind: doc.string(action, kind, path) for kind in _RULES},
    )
    fields = ActionFields(action_id=f"{path}.id", action=path)
    return CatalogueAction(doc.string(action, "id", path), draft, fields)


def _trigger_kind(trigger: dict[str, Any], path: str) -> TriggerKind:
    value = doc.string(trigger, "kind", path)
    if not value:
        return TriggerKind.EVENT
    try:
        return TriggerKind(value)
    except ValueError:
        kinds = ", ".join(k.value for k in TriggerKind)
        raise InvalidArgument(doc.at(path, "kind"), f"must be one of {kinds}") from None


def _flag(trigger: dict[str, Any], key: str, path: str) -> bool:
    value = trigger.get(key, False)
    if not isinstance(value, bool):
        raise InvalidArgument(doc.at(path, key), "must be true or false")
    return value


def _trigger_document(t: Trigger) -> dict[str, Any]:
    spec = trigger_spec(t)
    document: dict[str, Any] = {"id": t.trigger_id}
    if t.event_name:
        document["event_name"] = t.event_name
    if "kind" in spec:
        document["kind"] = spec["kind"]
    if t.condition:
        document["condition"] = t.condition
    document["action"] = t.action_id
    document["channel"] = t.channel.value
    for key in ("segment", "life_stage", "date_trait", "offset_days", "years_after"):
        if key in spec:
            document[key] = spec[key]
    if t.throttle is not None:
        document["throttle"] = doc.duration_text(t.throttle)
    if t.best_channel:
        document["best_channel"] = True
    return document


def _trigger(entry: Any, path: str) -> CatalogueTrigger:
    trigger = doc.mapping(entry, path)
    doc.check_keys(trigger, _TRIGGER_KEYS, path)
    draft = TriggerDraft(
        event_name=doc.string(trigger, "event_name", path),
        condition=doc.string(trigger, "condition", path),
        action_id=doc.string(trigger, "action", path),
        channel=_channel(trigger.get("channel")),
        kind=_trigger_kind(trigger, path),
        segment=doc.string(trigger, "segment", path),
        life_stage=doc.string(trigger, "life_stage", path),
        date_trait=doc.string(trigger, "date_trait", path),
        offset_days=doc.integer(trigger, "offset_days", path),
        years_after=doc.integer(trigger, "years_after", path),
        throttle=doc.duration(trigger, "throttle", path),
        best_channel=_flag(trigger, "best_channel", path),
    )
    fields = TriggerFields(trigger_id=f"{path}.id", trigger=path)
    return CatalogueTrigger(doc.string(trigger, "id", path), draft, fields)


def parse_catalogue(data: Any) -> Catalogue:
    """The catalogue of a parsed YAML document, or InvalidArgument naming the place."""
    top = doc.mapping({} if data is None else data, "(top level)")
    doc.check_keys(top, _TOP_KEYS, "")
    workspace = doc.string(top, "workspace", "")
    settings = top.get("settings")
    return Catalogue(
        workspace=workspace or DEFAULT_WORKSPACE,
        workspace_given=bool(workspace),
        settings=None if settings is None else parse_settings(settings, "settings"),
        groups=tuple(_group(g, f"groups[{i}]") for i, g in enumerate(doc.items(top, "groups", ""))),
        actions=tuple(
            _action(a, f"actions[{i}]") for i, a in enumerate(doc.items(top, "actions", ""))
        ),
        triggers=tuple(
            _trigger(t, f"triggers[{i}]") for i, t in enumerate(doc.items(top, "triggers", ""))
        ),
    )


def read_catalogue(path: Path) -> Catalogue:
    """Read and parse the file; CatalogueFileError with a clear message when unusable."""
    return read_catalogue_and_digest(path)[0]


def read_catalogue_and_digest(path: Path) -> tuple[Catalogue, str]:
    """The file's catalogue and the SHA-256 (hex) of its content, read once (so the two
    agree); CatalogueFileError with a clear message when unusable."""
    try:
        content = path.read_bytes()
        text = content.decode("utf-8")
    except OSError as err:
        raise CatalogueFileError(f"catalogue file {path}: cannot be read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise CatalogueFileError(f"catalogue file {path}: is not UTF-8 text") from err
    try:
        return parse_catalogue(doc.load(text)), hashlib.sha256(content).hexdigest()
    except doc.DocumentError as err:
        raise CatalogueFileError(f"catalogue file {path}: {err}") from err
    except InvalidArgument as err:
        raise CatalogueFileError(f"catalogue file {path}: {err.message}") from err


# -- writing ---------------------------------------------------------------------------


def _content_document(content: MessageContent) -> dict[str, str]:
    return {part: getattr(content, part) for part in _CONTENT_KEYS if getattr(content, part)}


def _rules_document(item: Any) -> dict[str, str]:
    return {kind: getattr(item, kind) for kind in _RULES if getattr(item, kind)}


def _action_document(action: Action) -> dict[str, Any]:
    document: dict[str, Any] = {"id": action.action_id}
    optional = {
        "display_name": action.display_name,
        "description": action.description,
        "group": action.group_id,
        "tags": list(action.tags),
    }
    document.update({key: value for key, value in optional.items() if value})
    document.update(
        channels=[c.value for c in action.channels],
        purpose=action.purpose,
        value=action.value,
        lever=action.lever,
        base_propensity=action.base_propensity,
        **_rules_document(action),
    )
    if content := _content_document(action.content):
        document["content"] = content
    if action.treatments:
        document["treatments"] = [
            {"channel": t.channel.value, "content": _content_document(t.content)}
            for t in action.treatments
            if t.channel is not None
        ]
    for key in ("start_time", "end_time"):
        if (moment := getattr(action, key)) is not None:
            document[key] = moment.isoformat()
    return document


def config_document(config: DecisionConfig) -> dict[str, Any]:
    """The document of a whole configuration (what parse_catalogue reads back)."""
    return {
        "workspace": config.workspace,
        "settings": settings_document(config.settings),
        "groups": [
            {
                "id": g.group_id,
                **{
                    k: getattr(g, k)
                    for k in ("display_name", "description", "issue")
                    if getattr(g, k)
                },
                **_rules_document(g),
                "lever": g.lever,
            }
            for g in config.groups
        ],
        "actions": [_action_document(a) for a in config.actions],
        "triggers": [_trigger_document(t) for t in config.triggers],
    }


class YamlConfigDocuments:
    """The service layer's ConfigDocuments port, in YAML."""

    def parse(self, text: str) -> Catalogue:
        """The catalogue in `text`; InvalidArgument (field `content`) when it cannot be read."""
        try:
            return parse_catalogue(doc.load(text))
        except doc.DocumentError as err:
            raise InvalidArgument("content", str(err)) from err
        except InvalidArgument as err:
            raise InvalidArgument("content", err.message) from err

    def dump(self, config: DecisionConfig) -> str:
        return doc.dump(config_document(config))
