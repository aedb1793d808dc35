"""Which decisions a conversion may be credited to (intent to treat), pure: every arm of
an experiment about the action alike, whatever the arm did with the action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rapport.decisioning.domain.experiments import (
    Arm,
    ConversionRule,
    Experiment,
    Strategy,
    converts,
)
from rapport.decisioning.domain.model import (
    Channel,
    Decision,
    ExcludedAction,
    ExclusionReason,
    RankedAction,
    ScoreParts,
)

NOW = datetime(2026, 11, 30, tzinfo=UTC)
RENEWAL = "workspaces/default/actions/renewal"
CROSS_SELL = "workspaces/default/actions/cross-sell"


def _experiment(experiment_id: str, action_ids: tuple[str, ...]) -> Experiment:
    return Experiment(
        workspace="default",
        experiment_id=experiment_id,
        display_name="",
        action_ids=action_ids,
        arms=(Arm("treated", Strategy.MODEL, 1), Arm("control", Strategy.CONTROL, 1)),
        start_time=None,
        end_time=None,
        create_time=NOW - timedelta(days=1),
    )


RULE = ConversionRule("default", "renewed", "renewal", "Policy Renewed", timedelta(days=30), NOW)
ABOUT_RENEWAL = RULE.experiments_about(
    [
        _experiment("renewal-test", ("renewal",)),
        _experiment("cross-sell-test", ("cross-sell",)),
        _experiment("everything", ()),
    ]
)


def _ranked(action: str) -> RankedAction:
    return RankedAction(action, 1, 1.0, ScoreParts(0.5, 1.0, 1.0, 1.0), 1.0, Channel.EMAIL, "")


def _decision(
    *,
    returned: tuple[str, ...] = (),
    left_out: tuple[tuple[str, ExclusionReason], ...] = (),
    experiment_id: str = "",
    arm_id: str = "",
) -> Decision:
    return Decision(
        decision_id="d1",
        workspace="default",
        customer="workspaces/default/customers/c1",
        actions=tuple(_ranked(a) for a in returned),
        excluded=tuple(ExcludedAction(a, reason, "") for a, reason in left_out),
        channel=None,
        source="",
        create_time=NOW,
        experiment_id=experiment_id,
        arm_id=arm_id,
        control=arm_id == "control",
    )


def test_the_rule_names_the_experiments_about_its_action():
    assert ABOUT_RENEWAL == {"renewal-test", "everything"}


@pytest.mark.parametrize(
    ("arm_id", "returned", "left_out"),
    [
        ("treated", (RENEWAL,), ()),
        ("treated", (CROSS_SELL,), ((RENEWAL, ExclusionReason.OUTRANKED),)),
        ("treated", (CROSS_SELL,), ((RENEWAL, ExclusionReason.CONTACT_LIMIT),)),
        # Assigned through another action of the experiment; renewal not even eligible.
        ("treated", (), ((RENEWAL, ExclusionReason.NOT_ELIGIBLE),)),
        ("control", (CROSS_SELL,), ((RENEWAL, ExclusionReason.CONTROL_GROUP),)),
        ("control", (), ((RENEWAL, ExclusionReason.NOT_ELIGIBLE),)),
    ],
)
def test_every_arm_of_an_experiment_about_the_action_converts_alike(arm_id, returned, left_out):
    for experiment_id in ("renewal-test", "everything"):
        decision = _decision(
            returned=returned, left_out=left_out, experiment_id=experiment_id, arm_id=arm_id
        )
        assert converts(decision, RENEWAL, ABOUT_RENEWAL)


def test_outside_an_experiment_about_the_action_only_a_returned_action_converts():
    outranked = ((RENEWAL, ExclusionReason.OUTRANKED),)
    assert converts(_decision(returned=(RENEWAL,)), RENEWAL, ABOUT_RENEWAL)
    assert not converts(_decision(left_out=outranked), RENEWAL, ABOUT_RENEWAL)
    # An experiment about another action: renewal's losing is no treatment of it.
    other = _decision(left_out=outranked, experiment_id="cross-sell-test", arm_id="treated")
    assert not converts(other, RENEWAL, ABOUT_RENEWAL)
    assert converts(
        _decision(returned=(RENEWAL,), experiment_id="cross-sell-test", arm_id="treated"),
        RENEWAL,
        ABOUT_RENEWAL,
    )


def test_a_deleted_experiments_control_decision_still_converts():
    held = _decision(
        left_out=((RENEWAL, ExclusionReason.CONTROL_GROUP),),
        experiment_id="deleted",
        arm_id="control",
    )
    assert converts(held, RENEWAL, ABOUT_RENEWAL)
    assert not converts(held, CROSS_SELL, ABOUT_RENEWAL)
