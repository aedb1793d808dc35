"""Trigger activities' domain: names (AIP-159 `-` parents), ids stable per trigger and
signal, reasons as codes, why a triggered decision did not choose its action."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import (
    Channel,
    Decision,
    ExcludedAction,
    ExclusionReason,
    RankedAction,
    ScoreParts,
)
from rapport.decisioning.domain.trigger_activity import (
    MAX_REASON_CHARS,
    activity_id,
    reason_code,
    skip_reason,
)
from rapport.errors import InvalidArgument

ACTION = "workspaces/default/actions/reminder"


def test_activity_names_round_trip():
    name = names.trigger_activity_name("default", "renewal", "a1")
    assert name == "workspaces/default/triggers/renewal/activities/a1"
    assert names.parse_trigger_activity(name, "name") == names.ActivityName(
        "default", "renewal", "a1"
    )


def test_a_parent_is_a_trigger_or_every_trigger():
    assert names.parse_activity_parent("workspaces/default/triggers/-", "parent") == (
        names.ResourceName("default", names.ALL_TRIGGERS)
    )
    assert names.parse_activity_parent("workspaces/default/triggers/t-1", "parent") == (
        names.ResourceName("default", "t-1")
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-",
        "triggers/-",
        "/triggers/-",
        "workspaces/-/triggers/-",
        "workspaces/default/actions/-",
        "workspaces/default/triggers/-/x",
        "workspaces/default/triggers/--",
        "workspaces/x/y/triggers/-",
    ],
)
def test_other_parents_are_refused_naming_the_field(value):
    with pytest.raises(InvalidArgument) as raised:
        names.parse_activity_parent(value, "parent")
    assert raised.value.field == "parent"


def test_ids_derive_from_trigger_customer_and_signal():
    one = activity_id("renewal", "workspaces/default/customers/a", "evt-1")
    assert one == activity_id("renewal", "workspaces/default/customers/a", "evt-1")
    assert len(one) == 32 and one.isalnum() and one == one.lower()
    others = {
        activity_id("other", "workspaces/default/customers/a", "evt-1"),
        activity_id("renewal", "workspaces/default/customers/b", "evt-1"),
        activity_id("renewal", "workspaces/default/customers/a", "evt-2"),
    }
    assert one not in others and len(others) == 3


def test_reasons_are_cut_to_their_limit():
    assert reason_code("THROTTLED") == "THROTTLED"
    assert len(reason_code("delivery:" + "X" * 500)) == MAX_REASON_CHARS


def _decision(
    actions: tuple[RankedAction, ...] = (), excluded: tuple[ExcludedAction, ...] = ()
) -> Decision:
    return Decision(
        decision_id="d1",
        workspace="default",
        customer="workspaces/default/customers/a",
        actions=actions,
        excluded=excluded,
        channel=Channel.EMAIL,
        source="workspaces/default/triggers/renewal",
        create_time=datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_skip_reason_is_the_exclusion_of_the_triggers_action():
    excluded = (
        ExcludedAction("workspaces/default/actions/other", ExclusionReason.OUT_OF_SCOPE, ""),
        ExcludedAction(ACTION, ExclusionReason.CONTROL_GROUP, ""),
    )
    assert skip_reason(_decision(excluded=excluded), ACTION) == "CONTROL_GROUP"
    # Left out by no step (nothing to choose from): not chosen.
    assert skip_reason(_decision(), ACTION) == "NOT_CHOSEN"


def test_a_chosen_action_is_no_skip():
    ranked = RankedAction(
        action=ACTION,
        rank=1,
        priority=50.0,
        score=ScoreParts(0.5, 1.0, 100.0, 1.0),
        probability=1.0,
        channel=Channel.EMAIL,
        explanation="",
    )
    assert skip_reason(_decision(actions=(ranked,)), ACTION) is None
