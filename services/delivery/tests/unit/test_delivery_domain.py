"""Pure domain: message life, backoff, validation, templates, addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.delivery.domain import names, rendering, templates, validation
from rapport.delivery.domain.addressing import email_address
from rapport.delivery.domain.model import (
    Channel,
    FailureReason,
    Message,
    MessageContent,
    MessageState,
    RetryPolicy,
    payload_fingerprint,
)
from rapport.errors import InvalidArgument

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def queued(**overrides: object) -> Message:
    values: dict[str, object] = {
        "id": "m1",
        "workspace": "default",
        "customer_id": "c1",
        "purpose": "marketing",
        "channel": Channel.EMAIL,
        "idempotency_key": "k",
        "content": MessageContent("s", "t"),
        "data": {},
        "source": "",
        "now": NOW,
    }
    values.update(overrides)
    return Message.queue(**values)  # type: ignore[arg-type]


def test_queued_message_names_and_times() -> None:
    message = queued()
    assert message.name == "workspaces/default/messages/m1"
    assert message.customer == "workspaces/default/customers/c1"
    assert message.state is MessageState.QUEUED
    assert message.next_attempt_time == message.create_time == NOW
    assert message.same_payload(queued(id="m2", now=NOW + timedelta(seconds=1)))
    assert not message.same_payload(queued(purpose="renewals"))


def test_payload_fingerprint_is_canonical() -> None:
    def fingerprint(**overrides: object) -> str:
        values: dict[str, object] = {
            "customer": "workspaces/default/customers/c1",
            "purpose": "marketing",
            "channel": Channel.EMAIL,
            "content": MessageContent("s", "t", "<p>h</p>"),
            "data": {"a": 1, "b": {"c": [1, 2.5, None, True, "x"]}},
            "source": "",
        }
        values.update(overrides)
        return payload_fingerprint(**values)  # type: ignore[arg-type]

    base = fingerprint()
    assert len(base) == 64 and base == fingerprint()
    assert fingerprint(data={"b": {"c": [1, 2.5, None, True, "x"]}, "a": 1}) == base
    for changed in [
        {"customer": "workspaces/default/customers/c2"},
        {"purpose": "renewals"},
        {"channel": Channel.SMS},
        {"content": MessageContent("s", "t")},
        {"content": MessageContent("s", "t<p>h</p>")},  # fields do not run together
        {"data": {"a": 1, "b": {"c": [1, 2.5, None, True]}}},
        {"data": {"a": "1", "b": {"c": [1, 2.5, None, True, "x"]}}},
        {"source": "workspaces/default/triggers/t"},
    ]:
        assert fingerprint(**changed) != base, changed


def test_names() -> None:
    assert names.message_name("default", "m1") == "workspaces/default/messages/m1"
    assert names.parse_message("workspaces/default/messages/m1", field="name") == ("default", "m1")
    assert names.parse_customer("workspaces/w/customers/c", field="customer") == ("w", "c")
    assert names.parse_workspace("workspaces/w", field="parent") == "w"
    assert names.profile_name("workspaces/w/customers/c") == "workspaces/w/customers/c/profile"
    for bad in ["", "messages/m1", "workspaces/default/messages/M1", "workspaces/default"]:
        with pytest.raises(InvalidArgument) as caught:
            names.parse_message(bad, field="name")
        assert caught.value.field == "name"


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=20, base_seconds=1.0, max_delay_seconds=300)
    assert [policy.ceiling(n).total_seconds() for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert policy.ceiling(10).total_seconds() == 300
    assert policy.ceiling(10_000).total_seconds() == 300  # no overflow


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0.001, max_value=10))
def test_backoff_is_monotonic_and_bounded(attempt: int, base: float) -> None:
    policy = RetryPolicy(max_attempts=8, base_seconds=base, max_delay_seconds=300)
    assert policy.ceiling(attempt) <= policy.ceiling(attempt + 1) <= timedelta(seconds=300)


@given(
    st.integers(min_value=1, max_value=10_000),
    st.floats(min_value=-1.0, max_value=2.0, allow_nan=False),
)
def test_full_jitter_draws_between_zero_and_the_ceiling(attempt: int, draw: float) -> None:
    policy = RetryPolicy(max_attempts=8, base_seconds=0.5, max_delay_seconds=60)
    delay = policy.delay(attempt, draw)
    assert timedelta(0) <= delay <= policy.ceiling(attempt)
    if 0.0 <= draw <= 1.0:
        assert abs(delay.total_seconds() - draw * policy.ceiling(attempt).total_seconds()) < 1e-5


def test_full_jitter_spreads_retries() -> None:
    # The draw decides the delay: a lower draw retries sooner, so racing retries spread out.
    policy = RetryPolicy(max_attempts=8, base_seconds=1.0, max_delay_seconds=300)
    assert policy.delay(4, 0.0) == timedelta(0)
    assert policy.delay(4, 0.25) == timedelta(seconds=2)
    assert policy.delay(4, 1.0) == timedelta(seconds=8)


def test_retry_later_requeues_then_dead_letters() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=1.0)
    message = queued()
    message.attempt_count = 2
    message.retry_later(policy, NOW)
    assert message.state is MessageState.QUEUED
    assert message.next_attempt_time == NOW + timedelta(seconds=2)
    message.attempt_count = 3
    message.retry_later(policy, NOW, error="PROVIDER_UNAVAILABLE")
    assert (message.state, message.failure_reason, message.last_error) == (
        MessageState.DEAD_LETTERED,
        FailureReason.RETRIES_EXHAUSTED,
        "PROVIDER_UNAVAILABLE",
    )
    message.replay(NOW + timedelta(hours=1))
    assert (message.state, message.attempt_count, message.failure_reason) == (
        MessageState.QUEUED,
        0,
        "",
    )
    assert message.next_attempt_time == NOW + timedelta(hours=1)
    with pytest.raises(ValueError):
        message.replay(NOW)  # only a dead letter is replayed


def test_final_states_are_final() -> None:
    message = queued()
    message.mark_sent("smtp", "<id@x>", NOW)
    assert (message.state, message.send_time, message.provider) == (MessageState.SENT, NOW, "smtp")
    with pytest.raises(ValueError):
        message.suppress(FailureReason.CONSENT_DENIED, NOW)


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "nul\x00"])
def test_bad_idempotency_keys(key: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validation.validate_idempotency_key(key)
    assert caught.value.field == "idempotency_key"


def test_good_idempotency_keys() -> None:
    for key in ["a", "x" * 200, "trigger:renewal/event 42", "clé-é"]:
        validation.validate_idempotency_key(key)


@pytest.mark.parametrize("purpose", ["", "Marketing", "1abc", "a" * 65, "with space"])
def test_bad_purposes(purpose: str) -> None:
    with pytest.raises(InvalidArgument):
        validation.validate_purpose(purpose)


def test_channels() -> None:
    assert validation.require_send_channel(Channel.EMAIL) is Channel.EMAIL
    for bad in [None, Channel.INBOUND]:
        with pytest.raises(InvalidArgument) as caught:
            validation.require_send_channel(bad)
        assert caught.value.field == "channel"


def test_templates_render_none_empty_and_escape_only_html() -> None:
    content = MessageContent(
        subject="Hi {{ traits.first_name }}{{ traits.nickname | default('') }}",
        text_body="{{ data.x }} {{ customer }} {{ traits.none_value }}",
        html_body="<p>{{ data.x }}</p>",
    )
    rendered = templates.render_content(
        content,
        traits={"first_name": "Ada", "none_value": None},
        data={"x": "<i>&</i>"},
        customer="workspaces/default/customers/c1",
    )
    assert rendered.subject == "Hi Ada"
    assert rendered.text_body == "<i>&</i> workspaces/default/customers/c1 "
    assert rendered.html_body == "<p>&lt;i&gt;&amp;&lt;/i&gt;</p>"


# Deliberately changed: a missing variable used to render as empty (the mail "Hi" went
# out); it is now an error naming the part and the variable.
@pytest.mark.parametrize(
    ("subject", "variable"),
    [
        ("Hi {{ traits.first_name }}", "traits.first_name"),
        ("Hi {{ traits.nope.deeper }}", "traits.nope"),
        ("Hi {{ nothing }}", "nothing"),
        ("{% if traits.vip %}VIP{% endif %}", "traits.vip"),
        ("{{ data.order.lines[3] }}", "data.order.lines[3]"),
    ],
)
def test_an_undefined_variable_fails_naming_it(subject: str, variable: str) -> None:
    content = MessageContent(subject=subject, text_body="body")
    with pytest.raises(rendering.TemplateRenderError) as caught:
        templates.render_content(content, traits={}, data={"order": {"lines": [1]}}, customer="c")
    assert caught.value.kind == "UNDEFINED_VARIABLE"
    assert caught.value.variable == variable
    assert caught.value.describe() == f"subject: undefined variable {variable}"


def test_a_key_computed_from_profile_values_is_not_named() -> None:
    # The variable's name would be the customer's email: personal data stays out.
    with pytest.raises(rendering.TemplateRenderError) as caught:
        rendering.render(
            "{{ data[traits.email] }}", {"traits": {"email": "ada@example.com"}, "data": {}}
        )
    assert "ada@example.com" not in caught.value.describe()
    assert caught.value.variable == "data.[...]"


def test_subject_line_breaks_are_folded() -> None:
    content = MessageContent(subject="A {{ data.s }} B", text_body="t")
    rendered = templates.render_content(
        content, traits={}, data={"s": "x\r\nBcc: eve@example.com"}, customer=""
    )
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert rendered.html_body is None


@pytest.mark.parametrize(
    "source",
    [
        "{{ traits.__class__ }}",
        "{{ data.update({'a': 1}) }}",
        "{{ 10 ** 100000 }}",
        "{{ 'x' * 10000000 }}",
        "{{ 1 / 0 }}",
        "{{ traits.first_name.mro() }}",
    ],
)
def test_unsafe_or_failing_templates_raise_render_error(source: str) -> None:
    assert rendering.template_syntax_error(source) is None  # they parse...
    with pytest.raises(rendering.TemplateRenderError):  # ...but do not render
        rendering.render(source, {"traits": {"first_name": "Ada"}, "data": {}, "customer": ""})


def test_syntax_errors_are_described() -> None:
    problem = rendering.template_syntax_error("{% if %}")
    assert problem is not None and problem.startswith("is not a valid template")
    assert rendering.template_syntax_error("plain {{ ok }}") is None


@pytest.mark.parametrize(
    ("traits", "expected"),
    [
        ({"email": " ada@example.com "}, "ada@example.com"),
        ({}, FailureReason.NO_ADDRESS),
        ({"email": ""}, FailureReason.NO_ADDRESS),
        ({"email": 42}, FailureReason.NO_ADDRESS),
        ({"email": "not-an-address"}, FailureReason.INVALID_ADDRESS),
        ({"email": "a@b.com, eve@example.com"}, FailureReason.INVALID_ADDRESS),
        ({"email": "a@b.com\nBcc: eve@x.com"}, FailureReason.INVALID_ADDRESS),
        ({"email": "a@localhost"}, FailureReason.INVALID_ADDRESS),
    ],
)
def test_email_address(traits: dict[str, object], expected: object) -> None:
    assert email_address(traits) == expected
