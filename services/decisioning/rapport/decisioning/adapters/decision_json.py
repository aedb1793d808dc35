"""A decision as one row of the decisions table, stored compactly, and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapport.decisioning.domain import names
from rapport.decisioning.domain.arbitration import outranked_explanation
from rapport.decisioning.domain.model import (
    Channel,
    Decision,
    ExcludedAction,
    ExclusionReason,
    RankedAction,
    ScoreParts,
    ShadowScore,
)
from rapport.sqlstore import as_utc

# Decisions are stored compactly (since this version; rows written before hold one JSON
# object per action and are still read): each action as a JSON array, its name as the
# action id when it is one of the decision's workspace, and an outranked action's
# explanation left out when arbitration wrote its standard text (outranked_explanation
# of its score parts and the number of ranked actions, checked on the first one; any
# other text is kept as it was). Reading gives back exactly the decision stored.
#   ranked:   [action, rank, priority, propensity, context_weight, value, lever,
#              probability, channel, explanation]
#   excluded: [action, reason, explanation or null] + [propensity, context_weight,
#              value, lever] when it has score parts


def _action_ref(name: str, prefix: str) -> str:
    # Action ids never hold a "/": a name of another form is stored whole.
    return name[len(prefix) :] if name.startswith(prefix) else name


def _action_of(ref: str, prefix: str) -> str:
    return ref if "/" in ref else prefix + ref


def _actions_prefix(workspace: str) -> str:
    return names.action_name(workspace, "")


def _ranked_to_json(ranked: RankedAction, prefix: str) -> list[Any]:
    score = ranked.score
    return [
        _action_ref(ranked.action, prefix),
        ranked.rank,
        ranked.priority,
        score.propensity,
        score.context_weight,
        score.value,
        score.lever,
        ranked.probability,
        ranked.channel._value_,
        ranked.explanation,
    ]


def _score_from_json(item: dict[str, Any]) -> ScoreParts:
    return ScoreParts(
        propensity=item["propensity"],
        context_weight=item["context_weight"],
        value=item["value"],
        lever=item["lever"],
    )


def _ranked_from_json(item: Any, prefix: str) -> RankedAction:
    if isinstance(item, list):
        action, rank, priority, propensity, weight, value, lever, chance, channel, text = item
        return RankedAction(
            action=_action_of(action, prefix),
            rank=rank,
            priority=priority,
            score=ScoreParts(propensity, weight, value, lever),
            probability=chance,
            channel=Channel(channel),
            explanation=text,
        )
    return RankedAction(
        action=item["action"],
        rank=item["rank"],
        priority=item["priority"],
        score=_score_from_json(item),
        probability=item["probability"],
        channel=Channel(item["channel"]),
        # Rows written before explanations were stored have none.
        explanation=item.get("explanation", ""),
    )


def _excluded_to_json(
    excluded: Sequence[ExcludedAction], prefix: str, head: str
) -> list[list[Any]]:
    # One loop for every action of every decision (the action reference inlined).
    cut = len(prefix)
    rows: list[list[Any]] = []
    for item in excluded:
        name = item.action
        ref = name[cut:] if name.startswith(prefix) else name
        score = item.score
        # The StrEnum's own text (`.value` costs a descriptor call).
        reason = item.reason._value_
        if score is None:
            rows.append([ref, reason, item.explanation])
            continue
        text = item.explanation
        if head and item.standard_text and text.startswith(head):
            text = None  # rebuilt when read
        rows.append(
            [ref, reason, text, score.propensity, score.context_weight, score.value, score.lever]
        )
    return rows


def _standard_head(decision: Decision) -> str:
    """The start of the outranked actions' standard texts when they follow from the
    number of ranked actions (it is the max_actions they were ranked below, checked on
    the first one); empty when they do not."""
    for excluded in decision.excluded:
        score = excluded.score
        if excluded.standard_text and score is not None:
            count = len(decision.actions)
            if excluded.explanation != outranked_explanation(count, score):
                return ""
            return f"Ranked below the top {count}: "
    return ""


def _excluded_from_json(item: Any, prefix: str, ranked_count: int) -> ExcludedAction:
    if isinstance(item, list):
        reason = ExclusionReason(item[1])
        if len(item) == 3:
            return ExcludedAction(_action_of(item[0], prefix), reason, item[2])
        score = ScoreParts(item[3], item[4], item[5], item[6])
        text = item[2]
        if text is None:
            text = outranked_explanation(ranked_count, score)
            return ExcludedAction(_action_of(item[0], prefix), reason, text, score, True)
        return ExcludedAction(_action_of(item[0], prefix), reason, text, score=score)
    stored = item.get("score")
    return ExcludedAction(
        action=item["action"],
        reason=ExclusionReason(item["reason"]),
        explanation=item["explanation"],
        score=_score_from_json(stored) if stored is not None else None,
    )


def _scoring_to_json(decision: Decision) -> dict[str, Any] | None:
    """What the models saw and said (since 0004); None when no model scored."""
    if not decision.model and not decision.features and not decision.shadow_scores:
        return None
    return {
        "model": decision.model,
        "features": dict(decision.features),
        "shadow": [[s.model, s.action, s.propensity] for s in decision.shadow_scores],
    }


def decision_row(decision: Decision) -> dict[str, Any]:
    prefix = _actions_prefix(decision.workspace)
    head = _standard_head(decision)
    return {
        "decision_id": decision.decision_id,
        "workspace": decision.workspace,
        "customer": decision.customer,
        "actions": [_ranked_to_json(ranked, prefix) for ranked in decision.actions],
        "excluded_actions": _excluded_to_json(decision.excluded, prefix, head),
        "channel": decision.channel.value if decision.channel else None,
        "source": decision.source,
        "create_time": decision.create_time,
        "config_version": decision.config_version or None,
        "experiment_id": decision.experiment_id or None,
        "arm_id": decision.arm_id or None,
        "control": decision.control if decision.experiment_id else None,
        "scoring": _scoring_to_json(decision),
    }


def decision_from_row(row: Any) -> Decision:
    scoring = row.scoring or {}
    prefix = _actions_prefix(row.workspace)
    count = len(row.actions)
    return Decision(
        model=scoring.get("model", ""),
        features=scoring.get("features", {}),
        shadow_scores=tuple(ShadowScore(m, a, p) for m, a, p in scoring.get("shadow", ())),
        decision_id=row.decision_id,
        workspace=row.workspace,
        customer=row.customer,
        actions=tuple(_ranked_from_json(item, prefix) for item in row.actions),
        # NULL in rows written before migration 0002.
        excluded=tuple(
            _excluded_from_json(item, prefix, count) for item in row.excluded_actions or ()
        ),
        channel=Channel(row.channel) if row.channel else None,
        source=row.source or "",
        create_time=as_utc(row.create_time),
        config_version=row.config_version or 0,
        experiment_id=row.experiment_id or "",
        arm_id=row.arm_id or "",
        control=bool(row.control),
    )


@dataclass(frozen=True)
class LearningView:
    """What learning reads of a stored decision: whose it is, the actions it chose, the
    features the models saw (decoding the actions left out costs more than the rest)."""

    customer: str
    actions: frozenset[str]
    features: Mapping[str, float]


LEARNING_COLUMNS = ("decision_id", "workspace", "customer", "actions", "scoring")


def learning_view(row: Any) -> LearningView:
    return LearningView(
        customer=row.customer,
        actions=returned_actions(row.workspace, row.actions),
        features=(row.scoring or {}).get("features", {}),
    )


def returned_actions(workspace: str, stored: Sequence[Any]) -> frozenset[str]:
    """The names of the actions a stored decision returned (its `actions` column)."""
    prefix = _actions_prefix(workspace)
    return frozenset(_ranked_from_json(item, prefix).action for item in stored)
