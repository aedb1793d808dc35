"""The resource names decisioning reads and writes, formatted and parsed here only.

Parsing raises InvalidArgument naming the request field (rapport.resourcenames);
whether a workspace is served is the service layer's business.
"""

from __future__ import annotations

from typing import NamedTuple

from rapport.errors import InvalidArgument
from rapport.resourcenames import format_name, parse_name

WORKSPACE = "workspaces/{workspace}"
ACTION = "workspaces/{workspace}/actions/{action}"
TRIGGER = "workspaces/{workspace}/triggers/{trigger}"
TRIGGER_ACTIVITY = "workspaces/{workspace}/triggers/{trigger}/activities/{activity}"
# AIP-159: the trigger id `-` in a parent stands for every trigger of the workspace.
ALL_TRIGGERS = "-"
DECISION = "workspaces/{workspace}/decisions/{decision}"
OUTCOME = "workspaces/{workspace}/outcomes/{outcome}"
ACTION_GROUP = "workspaces/{workspace}/actionGroups/{action_group}"
DECISION_SETTINGS = "workspaces/{workspace}/decisionSettings"
CONFIG_VERSION = "workspaces/{workspace}/decisionConfigVersions/{decision_config_version}"
EXPERIMENT = "workspaces/{workspace}/experiments/{experiment}"
CONVERSION_RULE = "workspaces/{workspace}/conversionRules/{conversion_rule}"
MODEL = "workspaces/{workspace}/models/{model}"
# Resources of other services that decisioning names in its calls.
CUSTOMER = "workspaces/{workspace}/customers/{customer}"
PROFILE = "workspaces/{workspace}/customers/{customer}/profile"
SEGMENT = "workspaces/{workspace}/segments/{segment}"
# Delivery's messages, named by the status events delivery sends to profile.
MESSAGE = "workspaces/{workspace}/messages/{message}"


class ResourceName(NamedTuple):
    """A parsed name of a resource directly under a workspace."""

    workspace: str
    id: str


class ActivityName(NamedTuple):
    """A parsed trigger activity name."""

    workspace: str
    trigger_id: str
    activity_id: str


# -- formatting ----------------------------------------------------------------------


def workspace_name(workspace: str) -> str:
    return format_name(WORKSPACE, workspace=workspace)


def action_name(workspace: str, action_id: str) -> str:
    return format_name(ACTION, workspace=workspace, action=action_id)


def trigger_name(workspace: str, trigger_id: str) -> str:
    return format_name(TRIGGER, workspace=workspace, trigger=trigger_id)


def trigger_activity_name(workspace: str, trigger_id: str, activity_id: str) -> str:
    return format_name(
        TRIGGER_ACTIVITY, workspace=workspace, trigger=trigger_id, activity=activity_id
    )


def decision_name(workspace: str, decision_id: str) -> str:
    return format_name(DECISION, workspace=workspace, decision=decision_id)


def outcome_name(workspace: str, outcome_id: str) -> str:
    return format_name(OUTCOME, workspace=workspace, outcome=outcome_id)


def group_name(workspace: str, group_id: str) -> str:
    return format_name(ACTION_GROUP, workspace=workspace, action_group=group_id)


def settings_name(workspace: str) -> str:
    return format_name(DECISION_SETTINGS, workspace=workspace)


def version_name(workspace: str, version: int) -> str:
    return format_name(CONFIG_VERSION, workspace=workspace, decision_config_version=str(version))


def experiment_name(workspace: str, experiment_id: str) -> str:
    return format_name(EXPERIMENT, workspace=workspace, experiment=experiment_id)


def conversion_rule_name(workspace: str, rule_id: str) -> str:
    return format_name(CONVERSION_RULE, workspace=workspace, conversion_rule=rule_id)


def model_name(workspace: str, model_id: str) -> str:
    return format_name(MODEL, workspace=workspace, model=model_id)


def profile_name(customer: str) -> str:
    """The profile service's name of a customer's profile."""
    parsed = parse_customer(customer, "customer")
    return format_name(PROFILE, workspace=parsed.workspace, customer=parsed.id)


# -- parsing -------------------------------------------------------------------------


def is_message_name(value: str) -> bool:
    """Whether `value` is a name delivery could have given a message."""
    try:
        parse_name(MESSAGE, value, field="message")
    except InvalidArgument:
        return False
    return True


def parse_workspace(value: str, field: str) -> str:
    return parse_name(WORKSPACE, value, field=field)["workspace"]


def _parse(pattern: str, key: str, value: str, field: str) -> ResourceName:
    ids = parse_name(pattern, value, field=field)
    return ResourceName(ids["workspace"], ids[key])


def parse_action(value: str, field: str) -> ResourceName:
    return _parse(ACTION, "action", value, field)


def parse_trigger(value: str, field: str) -> ResourceName:
    return _parse(TRIGGER, "trigger", value, field)


def parse_trigger_activity(value: str, field: str) -> ActivityName:
    ids = parse_name(TRIGGER_ACTIVITY, value, field=field)
    return ActivityName(ids["workspace"], ids["trigger"], ids["activity"])


def parse_activity_parent(value: str, field: str) -> ResourceName:
    """A trigger's name, or `workspaces/{workspace}/triggers/-` (id ALL_TRIGGERS)."""
    prefix, _, last = value.rpartition("/")
    if last == ALL_TRIGGERS and prefix.endswith("/triggers"):
        try:
            workspace = parse_workspace(prefix.removesuffix("/triggers"), field)
        except InvalidArgument as err:
            raise InvalidArgument(
                field, f"must be a resource name like {TRIGGER} (trigger `-`: every trigger)"
            ) from err
        return ResourceName(workspace, ALL_TRIGGERS)
    return parse_trigger(value, field)


def parse_decision(value: str, field: str) -> ResourceName:
    return _parse(DECISION, "decision", value, field)


def parse_outcome(value: str, field: str) -> ResourceName:
    return _parse(OUTCOME, "outcome", value, field)


def parse_customer(value: str, field: str) -> ResourceName:
    return _parse(CUSTOMER, "customer", value, field)


def parse_experiment(value: str, field: str) -> ResourceName:
    return _parse(EXPERIMENT, "experiment", value, field)


def parse_conversion_rule(value: str, field: str) -> ResourceName:
    return _parse(CONVERSION_RULE, "conversion_rule", value, field)


def parse_model(value: str, field: str) -> ResourceName:
    return _parse(MODEL, "model", value, field)


def parse_segment(value: str, field: str) -> ResourceName:
    """A profile segment's name (a trigger's `segment`)."""
    return _parse(SEGMENT, "segment", value, field)


def parse_group(value: str, field: str) -> ResourceName:
    return _parse(ACTION_GROUP, "action_group", value, field)


def parse_settings(value: str, field: str) -> str:
    """The workspace of a decision settings name."""
    return parse_name(DECISION_SETTINGS, value, field=field)["workspace"]


def parse_version(value: str, field: str) -> ResourceName:
    """A version's name; its id is the version number as written (see version_number)."""
    return _parse(CONFIG_VERSION, "decision_config_version", value, field)


def version_number(version_id: str) -> int | None:
    """The number of a version id; None when it cannot be one (so no such version)."""
    if not version_id.isdigit() or version_id.startswith("0") or len(version_id) > 18:
        return None
    return int(version_id)


def require_same_workspace(name: ResourceName, workspace: str, field: str) -> ResourceName:
    """`name` unchanged, or InvalidArgument when it lives in another workspace."""
    if name.workspace != workspace:
        raise InvalidArgument(field, f"must be in {workspace_name(workspace)}")
    return name
