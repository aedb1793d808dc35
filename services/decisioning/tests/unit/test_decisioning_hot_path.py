"""The shortcuts of Decide's hot path give what the plain code gives: channels hashed by
identity, features restricted by prefix, scores built without their named tuples' __new__."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from rapport.decisioning.domain import arbitration
from rapport.decisioning.domain.engagement import Candidate
from rapport.decisioning.domain.features import BIAS_FEATURE
from rapport.decisioning.domain.model import Action, Channel, MessageContent, ScoreParts
from rapport.decisioning.domain.policies import ArbitrationSettings
from rapport.decisioning.domain.rule_helpers import UTC_ZONE, helper_functions
from rapport.decisioning.domain.rules import RuleBook
from rapport.decisioning.service_layer.model_cache import restrict_features

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_channel_is_one_key_however_it_is_reached():
    for channel in Channel:
        for same in (
            Channel(channel.value),
            Channel[channel.name],
            pickle.loads(pickle.dumps(channel)),
            copy.deepcopy(channel),
        ):
            assert same is channel
            assert hash(same) == hash(channel)
            assert {channel: 1}[same] == 1
    assert len(set(Channel) | {Channel("sms"), Channel.SMS}) == len(Channel)


def _restricted_plainly(features: Mapping[str, float], sources: Sequence[str]) -> dict:
    # The definition: a feature named as a source or after `<source>=` / `<source>.`.
    out = {BIAS_FEATURE: features.get(BIAS_FEATURE, 1.0)}
    for name, value in features.items():
        if any(name == s or name.startswith((f"{s}=", f"{s}.")) for s in sources):
            out[name] = value
    return out


_parts = st.sampled_from(["traits", "traits.plan", "context", "plan", "a.b", "bias", "x=y", ""])
_names = st.builds(
    lambda head, mark, tail: f"{head}{mark}{tail}",
    _parts,
    st.sampled_from(["", "=", ".", "_", "=="]),
    _parts,
)


@given(
    st.dictionaries(_names, st.floats(allow_nan=False), max_size=8),
    st.lists(_parts, max_size=4),
)
def test_restricted_features_follow_the_definition(features, sources):
    restricted = restrict_features(features, sources)
    expected = _restricted_plainly(features, sources)
    assert restricted == expected
    assert list(restricted) == list(expected)  # the same order (hashed in that order)


class _Draws:
    def propensities(self, actions):
        values = [a.base_propensity for a in actions]
        return arbitration.Propensities(values, "a test")


def test_scores_are_the_named_tuples_their_constructors_build():
    actions = [
        Action(
            workspace="default",
            action_id=f"a{n}",
            display_name="",
            description="",
            channels=(Channel.EMAIL,),
            purpose="marketing",
            value=10.0 + n,
            lever=0.5 + n,
            base_propensity=0.1 * n,
            eligibility="",
            content=MessageContent("s", "b"),
            start_time=None,
            end_time=None,
            create_time=NOW,
        )
        for n in range(3)
    ]
    candidates = [Candidate(a, None, a.channels, ("held",)) for a in actions]
    env = RuleBook().environment({}, helper_functions(NOW.date(), UTC_ZONE))
    settings = ArbitrationSettings()
    scored = arbitration.score(candidates, settings, env, _Draws())
    for n, item in enumerate(scored):
        action = actions[n]
        parts = ScoreParts(action.base_propensity, 1.0, action.value, action.lever)
        built = arbitration.Scored(candidates[n], parts, item.notes)
        assert type(item) is arbitration.Scored and type(item.score) is ScoreParts
        assert item == built and item.score == parts
        assert item._asdict() == built._asdict()
        assert item.score._asdict() == parts._asdict()
        assert item.score.priority == parts.priority and item.probability == 1.0
