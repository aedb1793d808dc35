"""Resource names: formatted and parsed in one place, mistakes named by field."""

from __future__ import annotations

import pytest
from rapport.decisioning.domain import names
from rapport.errors import InvalidArgument


def test_names_round_trip():
    assert names.workspace_name("default") == "workspaces/default"
    for fmt, parse, kind in [
        (names.action_name, names.parse_action, "actions"),
        (names.trigger_name, names.parse_trigger, "triggers"),
        (names.decision_name, names.parse_decision, "decisions"),
        (names.outcome_name, names.parse_outcome, "outcomes"),
    ]:
        name = fmt("default", "x-1")
        assert name == f"workspaces/default/{kind}/x-1"
        assert parse(name, "name") == names.ResourceName("default", "x-1")


def test_profile_of_a_customer():
    customer = "workspaces/default/customers/alice"
    assert names.profile_name(customer) == "workspaces/default/customers/alice/profile"
    with pytest.raises(InvalidArgument):
        names.profile_name("alice")


@pytest.mark.parametrize(
    "value", ["", "decisions/x", "workspaces/default/actions/x", "workspaces/Default/decisions/x"]
)
def test_malformed_names_name_the_field(value):
    with pytest.raises(InvalidArgument) as caught:
        names.parse_decision(value, "outcome.decision")
    assert caught.value.field == "outcome.decision"


def test_same_workspace():
    name = names.parse_customer("workspaces/other/customers/a", "customer")
    assert names.require_same_workspace(name, "other", "customer") is name
    with pytest.raises(InvalidArgument) as caught:
        names.require_same_workspace(name, "default", "customer")
    assert caught.value.field == "customer"
    assert caught.value.description == "must be in workspaces/default"
