"""Decisions stored compactly read back exactly; rows in the earlier form still read."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
from rapport.decisioning.adapters.decision_json import decision_from_row, decision_row
from rapport.decisioning.domain.arbitration import outranked_explanation
from rapport.decisioning.domain.model import (
    Channel,
    Decision,
    ExcludedAction,
    ExclusionReason,
    RankedAction,
    ScoreParts,
)

ACTIONS = "workspaces/default/actions"
SCORE = ScoreParts(0.123456789, 1.5, 12.0, 1.0)
LOW = ScoreParts(0.0123, 1.0, 10.0, 1.0)


def _decision(excluded: tuple[ExcludedAction, ...]) -> Decision:
    ranked = RankedAction(
        f"{ACTIONS}/a1", 1, SCORE.priority, SCORE, 0.7, Channel.EMAIL, "Ranked 1 on email."
    )
    return Decision(
        decision_id="d1",
        workspace="default",
        customer="workspaces/default/customers/c1",
        actions=(ranked,),
        excluded=excluded,
        channel=None,
        source="",
        create_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        config_version=2,
    )


def _stored(decision: Decision) -> tuple[dict[str, Any], Decision]:
    row = decision_row(decision)
    # Through JSON, as the database keeps it.
    stored = {k: orjson.loads(orjson.dumps(v)) if k != "create_time" else v for k, v in row.items()}
    return stored, decision_from_row(SimpleNamespace(**stored))


def test_a_standard_outranked_text_is_left_out_and_rebuilt() -> None:
    text = outranked_explanation(1, LOW)
    decision = _decision(
        (
            ExcludedAction(f"{ACTIONS}/a2", ExclusionReason.OUTRANKED, text, LOW, True),
            ExcludedAction(f"{ACTIONS}/a3", ExclusionReason.NOT_ELIGIBLE, "Rule `x` is false."),
            ExcludedAction("workspaces/other/actions/a4", ExclusionReason.NO_CONSENT, "No."),
        )
    )
    stored, back = _stored(decision)
    assert stored["excluded_actions"][0] == ["a2", "OUTRANKED", None, 0.0123, 1.0, 10.0, 1.0]
    assert stored["excluded_actions"][2][0] == "workspaces/other/actions/a4"
    assert back == decision
    assert [e.explanation for e in back.excluded] == [e.explanation for e in decision.excluded]


def test_any_other_text_is_kept_as_it_was() -> None:
    decision = _decision(
        (
            # Not marked standard, or not the standard text for one ranked action.
            ExcludedAction(f"{ACTIONS}/a2", ExclusionReason.OUTRANKED, "custom", LOW),
            ExcludedAction(
                f"{ACTIONS}/a3", ExclusionReason.OUTRANKED, outranked_explanation(3, LOW), LOW, True
            ),
        )
    )
    stored, back = _stored(decision)
    assert [item[2] for item in stored["excluded_actions"]] == [
        "custom",
        outranked_explanation(3, LOW),
    ]
    assert back == decision
    assert [e.explanation for e in back.excluded] == ["custom", outranked_explanation(3, LOW)]


def test_rows_written_before_still_read() -> None:
    old = SimpleNamespace(
        decision_id="d0",
        workspace="default",
        customer="workspaces/default/customers/c1",
        actions=[
            {
                "action": f"{ACTIONS}/a1",
                "rank": 1,
                "priority": 2.0,
                "propensity": 0.2,
                "context_weight": 1.0,
                "value": 10.0,
                "lever": 1.0,
                "probability": 1.0,
                "channel": "email",
                "explanation": "Ranked 1.",
            }
        ],
        excluded_actions=[
            {
                "action": f"{ACTIONS}/a2",
                "reason": "OUTRANKED",
                "explanation": "Ranked below the top 1: ...",
                "score": {"propensity": 0.1, "context_weight": 1.0, "value": 10.0, "lever": 1.0},
            },
            {"action": f"{ACTIONS}/a3", "reason": "NO_CONSENT", "explanation": "No consent."},
        ],
        channel=None,
        source=None,
        create_time=datetime(2026, 1, 2, tzinfo=UTC),
        config_version=1,
        experiment_id=None,
        arm_id=None,
        control=None,
        scoring=None,
    )
    decision = decision_from_row(old)
    assert decision.actions[0].score == ScoreParts(0.2, 1.0, 10.0, 1.0)
    assert decision.excluded[0].explanation == "Ranked below the top 1: ..."
    assert decision.excluded[0].score == ScoreParts(0.1, 1.0, 10.0, 1.0)
    assert decision.excluded[1].score is None
