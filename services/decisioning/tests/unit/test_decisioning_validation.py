"""Validation of actions and triggers (shared by the RPCs and the catalogue file)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from rapport.decisioning.domain.model import (
    ActionDraft,
    Channel,
    MessageContent,
    TriggerDraft,
)
from rapport.decisioning.domain.rules import RuleBook
from rapport.decisioning.domain.validation import (
    ActionFields,
    TriggerFields,
    validate_action,
    validate_trigger,
)
from rapport.errors import InvalidArgument

NOW = datetime(2025, 1, 1, tzinfo=UTC)

GOOD = ActionDraft(
    display_name="Renewal reminder",
    channels=[Channel.EMAIL, Channel.SMS],
    purpose="marketing",
    value=120.0,
    eligibility="has(profile.traits.email)",
    content=MessageContent(subject="Hi {{ traits.first_name }}", text_body="Renew now"),
)


def _validate(draft: ActionDraft, action_id: str = "renewal", **kwargs):
    return validate_action("default", action_id, draft, RuleBook(), create_time=NOW, **kwargs)


def _field_of(draft: ActionDraft, action_id: str = "renewal", **kwargs) -> str:
    with pytest.raises(InvalidArgument) as caught:
        _validate(draft, action_id, **kwargs)
    return caught.value.field


def test_defaults_are_applied():
    action = _validate(GOOD)
    assert action.name == "workspaces/default/actions/renewal"
    assert action.lever == 1.0
    assert action.base_propensity == 0.5
    assert action.channels == (Channel.EMAIL, Channel.SMS)


def test_explicit_lever_and_propensity_are_kept():
    action = _validate(replace(GOOD, lever=2.5, base_propensity=1.0))
    assert (action.lever, action.base_propensity) == (2.5, 1.0)


@pytest.mark.parametrize("action_id", ["", "Renewal", "1st", "-x", "a_b", "a" * 64, "renewal!"])
def test_bad_action_ids_are_refused(action_id):
    assert _field_of(GOOD, action_id) == "action_id"


@pytest.mark.parametrize("action_id", ["a", "renewal-reminder-2", "a" * 63])
def test_good_action_ids_are_accepted(action_id):
    assert _validate(GOOD, action_id).action_id == action_id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channels": []}, "action.channels"),
        ({"channels": [Channel.EMAIL, None]}, "action.channels[1]"),
        ({"channels": [Channel.EMAIL, Channel.EMAIL]}, "action.channels[1]"),
        ({"purpose": ""}, "action.purpose"),
        ({"purpose": "Marketing"}, "action.purpose"),
        ({"purpose": "_x"}, "action.purpose"),
        ({"value": 0.0}, "action.value"),
        ({"value": -1.0}, "action.value"),
        ({"value": math.nan}, "action.value"),
        ({"value": math.inf}, "action.value"),
        ({"lever": -0.1}, "action.lever"),
        ({"base_propensity": 1.01}, "action.base_propensity"),
        ({"base_propensity": -0.1}, "action.base_propensity"),
        ({"eligibility": "profile.traits.age >"}, "action.eligibility"),
        ({"start_time": NOW, "end_time": NOW}, "action.end_time"),
        ({"start_time": NOW, "end_time": NOW - timedelta(days=1)}, "action.end_time"),
        ({"content": MessageContent(text_body="x")}, "action.content.subject"),
        ({"content": MessageContent(subject="x")}, "action.content.text_body"),
        (
            {"content": MessageContent(subject="{{ x ", text_body="b")},
            "action.content.subject",
        ),
        (
            {"content": MessageContent(subject="s", text_body="{% for %}")},
            "action.content.text_body",
        ),
        (
            {"content": MessageContent(subject="s", text_body="b", html_body="{{ }")},
            "action.content.html_body",
        ),
    ],
)
def test_bad_fields_are_named(change, field):
    assert _field_of(replace(GOOD, **change)) == field


def test_syntax_error_message_is_the_compilers():
    with pytest.raises(InvalidArgument) as caught:
        _validate(replace(GOOD, eligibility="1 +"))
    assert "Syntax error" in caught.value.description


def test_text_body_is_optional_for_webhook_and_in_app_and_inbound():
    draft = replace(
        GOOD,
        channels=[Channel.WEBHOOK, Channel.IN_APP, Channel.INBOUND],
        content=MessageContent(),
    )
    assert _validate(draft).content == MessageContent()


def test_sms_needs_a_body_but_no_subject():
    draft = replace(GOOD, channels=[Channel.SMS], content=MessageContent(text_body="hi"))
    assert _validate(draft).channels == (Channel.SMS,)


def test_field_paths_follow_the_catalogue_file():
    fields = ActionFields(action_id="actions[3].id", action="actions[3]")
    assert _field_of(replace(GOOD, purpose=""), fields=fields) == "actions[3].purpose"
    assert _field_of(GOOD, "", fields=fields) == "actions[3].id"


# -- triggers ------------------------------------------------------------------------

ACTION = _validate(GOOD)
TRIGGER = TriggerDraft(
    event_name="Policy Renewal Due",
    condition="event.properties.days_left <= 30",
    action_id="renewal",
    channel=Channel.EMAIL,
)


def _trigger_field(draft: TriggerDraft, action=ACTION, trigger_id="renewal-due", **kw) -> str:
    with pytest.raises(InvalidArgument) as caught:
        validate_trigger("default", trigger_id, draft, action, RuleBook(), create_time=NOW, **kw)
    return caught.value.field


def test_trigger_is_built():
    trigger = validate_trigger(
        "default", "renewal-due", TRIGGER, ACTION, RuleBook(), create_time=NOW
    )
    assert trigger.name == "workspaces/default/triggers/renewal-due"
    assert trigger.action_name == ACTION.name
    assert trigger.idempotency_key("m1") == "trigger:renewal-due:m1"


@pytest.mark.parametrize(
    ("draft", "action", "field"),
    [
        (replace(TRIGGER, event_name=""), ACTION, "trigger.event_name"),
        (replace(TRIGGER, event_name="x" * 257), ACTION, "trigger.event_name"),
        (replace(TRIGGER, condition="event.("), ACTION, "trigger.condition"),
        (replace(TRIGGER, action_id=""), ACTION, "trigger.action"),
        (TRIGGER, None, "trigger.action"),
        (replace(TRIGGER, channel=None), ACTION, "trigger.channel"),
        (replace(TRIGGER, channel=Channel.PUSH), ACTION, "trigger.channel"),
    ],
)
def test_bad_trigger_fields_are_named(draft, action, field):
    assert _trigger_field(draft, action) == field


def test_trigger_on_inbound_is_refused():
    inbound = _validate(replace(GOOD, channels=[Channel.INBOUND], content=MessageContent()))
    draft = replace(TRIGGER, channel=Channel.INBOUND)
    assert _trigger_field(draft, inbound) == "trigger.channel"


def test_missing_action_says_no_such_action():
    with pytest.raises(InvalidArgument) as caught:
        validate_trigger("default", "t", TRIGGER, None, RuleBook(), create_time=NOW)
    assert caught.value.description == "no such action"


def test_trigger_id_and_catalogue_paths():
    assert _trigger_field(TRIGGER, trigger_id="Bad") == "trigger_id"
    fields = TriggerFields(trigger_id="triggers[0].id", trigger="triggers[0]")
    assert _trigger_field(replace(TRIGGER, event_name=""), fields=fields) == (
        "triggers[0].event_name"
    )


def test_long_message_ids_give_stable_short_keys():
    trigger = validate_trigger("default", "t", TRIGGER, ACTION, RuleBook(), create_time=NOW)
    long_id = "m" * 400
    key = trigger.idempotency_key(long_id)
    assert len(key) <= 200
    assert key == trigger.idempotency_key(long_id)
    assert key != trigger.idempotency_key(long_id + "x")
