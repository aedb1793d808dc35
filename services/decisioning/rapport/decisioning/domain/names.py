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
DECISION = "workspaces/{workspace}/decisions/{decision}"
OUTCOME = "workspaces/{workspace}/outcomes/{outcome}"
# Resources of other services that decisioning names in its calls.
CUSTOMER = "workspaces/{workspace}/customers/{customer}"
PROFILE = "workspaces/{workspace}/customers/{customer}/profile"


class ResourceName(NamedTuple):
    """A parsed name of a resource directly under a workspace."""

    workspace: str
    id: str


# -- formatting ----------------------------------------------------------------------


def workspace_name(workspace: str) -> str:
    return format_name(WORKSPACE, workspace=workspace)


def action_name(workspace: str, action_id: str) -> str:
    return format_name(ACTION, workspace=workspace, action=action_id)


def trigger_name(workspace: str, trigger_id: str) -> str:
    return format_name(TRIGGER, workspace=workspace, trigger=trigger_id)


def decision_name(workspace: str, decision_id: str) -> str:
    return format_name(DECISION, workspace=workspace, decision=decision_id)


def outcome_name(workspace: str, outcome_id: str) -> str:
    return format_name(OUTCOME, workspace=workspace, outcome=outcome_id)


def profile_name(customer: str) -> str:
    """The profile service's name of a customer's profile."""
    parsed = parse_customer(customer, "customer")
    return format_name(PROFILE, workspace=parsed.workspace, customer=parsed.id)


# -- parsing -------------------------------------------------------------------------


def parse_workspace(value: str, field: str) -> str:
    return parse_name(WORKSPACE, value, field=field)["workspace"]


def _parse(pattern: str, key: str, value: str, field: str) -> ResourceName:
    ids = parse_name(pattern, value, field=field)
    return ResourceName(ids["workspace"], ids[key])


def parse_action(value: str, field: str) -> ResourceName:
    return _parse(ACTION, "action", value, field)


def parse_trigger(value: str, field: str) -> ResourceName:
    return _parse(TRIGGER, "trigger", value, field)


def parse_decision(value: str, field: str) -> ResourceName:
    return _parse(DECISION, "decision", value, field)


def parse_outcome(value: str, field: str) -> ResourceName:
    return _parse(OUTCOME, "outcome", value, field)


def parse_customer(value: str, field: str) -> ResourceName:
    return _parse(CUSTOMER, "customer", value, field)


def require_same_workspace(name: ResourceName, workspace: str, field: str) -> ResourceName:
    """`name` unchanged, or InvalidArgument when it lives in another workspace."""
    if name.workspace != workspace:
        raise InvalidArgument(field, f"must be in {workspace_name(workspace)}")
    return name
