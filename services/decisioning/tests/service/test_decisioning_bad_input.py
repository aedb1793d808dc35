"""Odd values are INVALID_ARGUMENT naming the field, never INTERNAL, and change nothing.

One class of odd value per test, through the gRPC stub, for every RPC taking such a field:
timestamps out of range, NaN/Infinity, numbers too large, huge or NUL-laden strings,
nesting too deep, unknown enum numbers, odd resource names and page tokens.
"""

from __future__ import annotations

import base64
import functools
import json
import math

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"
DOMAIN = "decisioning.rapport.dev"
expect_invalid = functools.partial(
    expect_error, code=grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN
)

# google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z
BAD_TIMESTAMPS = {
    "before-year-1": timestamp_pb2.Timestamp(seconds=-62_135_596_801),
    "after-year-9999": timestamp_pb2.Timestamp(seconds=253_402_300_800),
    "negative-nanos": timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=-1),
    "nanos-a-second": timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=1_000_000_000),
}
NON_FINITE = {"nan": math.nan, "infinity": math.inf, "minus-infinity": -math.inf}
# Each chains thousands of operators: the CEL binding overflows its stack on such
# expressions (the whole process dies), so they must be refused unparsed.
CEL_BOMBS = {"sum": " + ".join(["1"] * 20_000) + " > 0", "path": "a" + ".b" * 20_000}
ODD_NAMES = {
    "empty": "",
    "trailing-slash": "workspaces/default/actions/",
    "too-many-parts": "workspaces/default/actions/a/b",
    "no-workspace": "workspaces//actions/a",
    "upper-case": "workspaces/default/actions/A",
    "nul": "workspaces/default/actions/a\x00",
    "huge": "workspaces/default/actions/" + "a" * 100_000,
}


def nested(depth: int) -> dict:
    """A Struct's content with `depth` objects inside one another (the outer one counts)."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def listed(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def struct(content: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(content)
    return message


def email_action(**fields) -> pb.Action:
    values = {
        "channels": [channel_pb2.CHANNEL_EMAIL],
        "purpose": "marketing",
        "value": 10.0,
        "content": message_content_pb2.MessageContent(subject="s", text_body="b"),
    }
    values.update(fields)
    return pb.Action(**values)


async def refused_action(stub, field: str, action_id: str = "a", **fields) -> None:
    action = email_action(**fields)
    request = pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=action)
    await expect_invalid(stub.CreateAction(request), field=field)
    assert list((await stub.ListActions(pb.ListActionsRequest(parent=PARENT))).actions) == []


# -- CreateAction -------------------------------------------------------------------------


@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS.values(), ids=BAD_TIMESTAMPS.keys())
@pytest.mark.parametrize("field", ["start_time", "end_time"])
async def test_create_action_timestamps_out_of_range(stub, field, stamp):
    await refused_action(stub, f"action.{field}", **{field: stamp})


@pytest.mark.parametrize("number", NON_FINITE.values(), ids=NON_FINITE.keys())
@pytest.mark.parametrize("field", ["value", "lever", "base_propensity"])
async def test_create_action_non_finite_numbers(stub, field, number):
    await refused_action(stub, f"action.{field}", **{field: number})


@pytest.mark.parametrize("field", ["value", "lever"])
async def test_create_action_numbers_too_large(stub, field):
    # value × lever must stay a finite priority (1e300 × 1e300 is Infinity).
    await refused_action(stub, f"action.{field}", **{field: 1e300})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_name", "x" * 10_001),
        ("description", "x" * 10_001),
        ("eligibility", "true || " * 600 + "true"),
        *[("eligibility", bomb) for bomb in CEL_BOMBS.values()],
    ],
    ids=["display_name", "description", "eligibility", *[f"cel-{k}" for k in CEL_BOMBS]],
)
async def test_create_action_huge_strings(stub, field, value):
    await refused_action(stub, f"action.{field}", **{field: value})


@pytest.mark.parametrize(
    "text",
    ["{{ " + "(" * 5_000 + "1" + ")" * 5_000 + " }}", "{% if x %}" * 3_000],
    ids=["parentheses", "blocks"],
)
async def test_create_action_templates_nested_too_deep(stub, text):
    content = message_content_pb2.MessageContent(subject="s", text_body=text)
    await refused_action(stub, "action.content.text_body", content=content)


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("action.display_name", {"display_name": "a\x00b"}),
        ("action.description", {"description": "a\x00b"}),
        ("action.eligibility", {"eligibility": "true\x00"}),
        (
            "action.content.subject",
            {"content": message_content_pb2.MessageContent(subject="\x00", text_body="b")},
        ),
        (
            "action.content.html_body",
            {
                "content": message_content_pb2.MessageContent(
                    subject="s", text_body="b", html_body="<p>\x00</p>"
                )
            },
        ),
    ],
    ids=["display_name", "description", "eligibility", "subject", "html_body"],
)
async def test_create_action_nul_characters(stub, field, fields):
    # PostgreSQL text cannot hold NUL: refused on every store alike.
    await refused_action(stub, field, **fields)


async def test_create_action_unknown_channel_number(stub):
    await refused_action(stub, "action.channels[1]", channels=[channel_pb2.CHANNEL_SMS, 9_999])


@pytest.mark.parametrize(
    ("parent", "action_id", "field"),
    [
        ("workspaces/", "a", "parent"),
        ("workspaces/Default", "a", "parent"),
        ("workspaces/default/actions", "a", "parent"),
        (PARENT, "a" * 64, "action_id"),
        (PARENT, "a\x00", "action_id"),
        (PARENT, "-a", "action_id"),
    ],
)
async def test_create_action_odd_names(stub, parent, action_id, field):
    request = pb.CreateActionRequest(parent=parent, action_id=action_id, action=email_action())
    await expect_invalid(stub.CreateAction(request), field=field)


# -- CreateTrigger --------------------------------------------------------------------------


@pytest.fixture
async def with_action(stub):
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id="a", action=email_action())
    )
    return stub


def trigger(**fields) -> pb.Trigger:
    values = {
        "event_name": "Signed Up",
        "action": "workspaces/default/actions/a",
        "channel": channel_pb2.CHANNEL_EMAIL,
    }
    values.update(fields)
    return pb.Trigger(**values)


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("trigger.condition", {"condition": CEL_BOMBS["sum"]}),
        ("trigger.condition", {"condition": CEL_BOMBS["path"]}),
        ("trigger.condition", {"condition": "true\x00"}),
        ("trigger.event_name", {"event_name": "x" * 257}),
        ("trigger.event_name", {"event_name": "Signed\x00Up"}),
        ("trigger.channel", {"channel": 9_999}),
        ("trigger.action", {"action": "workspaces/default/actions/"}),
        ("trigger.action", {"action": "workspaces/default/actions/a\x00"}),
        ("trigger.action", {"action": "workspaces/default/triggers/a"}),
    ],
    ids=[
        "cel-sum",
        "cel-path",
        "condition-nul",
        "event-name-huge",
        "event-name-nul",
        "unknown-channel",
        "action-trailing-slash",
        "action-nul",
        "action-of-another-kind",
    ],
)
async def test_create_trigger_odd_values(with_action, field, fields):
    stub = with_action
    request = pb.CreateTriggerRequest(parent=PARENT, trigger_id="t", trigger=trigger(**fields))
    await expect_invalid(stub.CreateTrigger(request), field=field)
    assert list((await stub.ListTriggers(pb.ListTriggersRequest(parent=PARENT))).triggers) == []


# -- Decide ----------------------------------------------------------------------------------


async def refused_decision(stub, field: str, **fields) -> None:
    values = {"parent": PARENT, "customer": ALICE, **fields}
    await expect_invalid(stub.Decide(pb.DecideRequest(**values)), field=field)
    decisions = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT))
    assert list(decisions.decisions) == []


@pytest.mark.parametrize("number", NON_FINITE.values(), ids=NON_FINITE.keys())
async def test_decide_non_finite_numbers_in_the_context(stub, number):
    await refused_decision(stub, "context.score", context=struct({"score": number}))
    await refused_decision(
        stub,
        "context.cart.items[1].`unit price`",
        context=struct({"cart": {"items": [{}, {"unit price": number}]}}),
    )


async def test_decide_context_nested_too_deep(stub):
    await refused_decision(stub, "context" + ".a" * 32, context=struct(nested(33)))
    await refused_decision(stub, "context.a" + "[0]" * 31, context=struct({"a": listed(32)}))


async def test_decide_context_just_deep_enough_is_used(stub, fake_services):
    fake_services.profile.traits[ALICE] = {}  # a known customer (an unknown one is NOT_FOUND)
    await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE, context=struct(nested(32))))
    await stub.Decide(
        pb.DecideRequest(parent=PARENT, customer=ALICE, context=struct({"a": listed(31)}))
    )


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("channel", {"channel": 9_999}),
        ("max_actions", {"max_actions": 2**31 - 1}),
        ("parent", {"parent": "workspaces/default/"}),
        ("customer", {"customer": "workspaces/default/customers/"}),
        ("customer", {"customer": "workspaces/default/customers/a\x00"}),
        ("customer", {"customer": "workspaces/default/customers/" + "a" * 100_000}),
    ],
    ids=["unknown-channel", "max-actions", "parent", "customer", "customer-nul", "huge"],
)
async def test_decide_odd_values(stub, field, fields):
    await refused_decision(stub, field, **fields)


# -- RecordOutcome ---------------------------------------------------------------------------


async def refused_outcome(stub, field: str, **fields) -> None:
    values = {"customer": ALICE, "action": "workspaces/default/actions/a", "type": 1, **fields}
    request = pb.RecordOutcomeRequest(parent=PARENT, outcome=pb.Outcome(**values))
    await expect_invalid(stub.RecordOutcome(request), field=field)
    outcomes = await stub.ListOutcomes(pb.ListOutcomesRequest(parent=PARENT))
    assert list(outcomes.outcomes) == []


@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS.values(), ids=BAD_TIMESTAMPS.keys())
async def test_record_outcome_time_out_of_range(with_action, stamp):
    await refused_outcome(with_action, "outcome.outcome_time", outcome_time=stamp)


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("outcome.type", {"type": 9_999}),
        ("outcome.channel", {"channel": 9_999}),
        ("outcome.action", {"action": "workspaces/default/actions/A"}),
        ("outcome.customer", {"customer": "workspaces/default/customers/a/b"}),
        ("outcome.decision", {"decision": "workspaces/default/decisions/\x00"}),
    ],
    ids=["unknown-type", "unknown-channel", "action", "customer", "decision"],
)
async def test_record_outcome_odd_values(with_action, field, fields):
    await refused_outcome(with_action, field, **fields)


# -- Get, Delete and List --------------------------------------------------------------------

GETS = {
    "GetAction": (pb.GetActionRequest, "actions"),
    "DeleteAction": (pb.DeleteActionRequest, "actions"),
    "GetTrigger": (pb.GetTriggerRequest, "triggers"),
    "GetDecision": (pb.GetDecisionRequest, "decisions"),
    "GetOutcome": (pb.GetOutcomeRequest, "outcomes"),
}


@pytest.mark.parametrize("name", ODD_NAMES.values(), ids=ODD_NAMES.keys())
@pytest.mark.parametrize("method", GETS)
async def test_get_and_delete_odd_names(stub, method, name):
    request_type, collection = GETS[method]
    await expect_invalid(
        getattr(stub, method)(request_type(name=name.replace("actions", collection))),
        field="name",
    )


LISTS = {
    "ListActions": pb.ListActionsRequest,
    "ListTriggers": pb.ListTriggersRequest,
    "ListDecisions": pb.ListDecisionsRequest,
    "ListOutcomes": pb.ListOutcomesRequest,
}
BAD_TOKENS = {
    # The old readable format: a position anyone could write.
    "forged": base64.urlsafe_b64encode(json.dumps({"p": {"after": "a"}, "b": "x"}).encode())
    .decode()
    .rstrip("="),
    "not-ascii": "é" * 10,
    "huge": "A" * 100_000,
    "nul": "\x00",
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
@pytest.mark.parametrize("method", LISTS)
async def test_list_odd_page_tokens(stub, method, token):
    request = LISTS[method](parent=PARENT, page_token=token)
    await expect_invalid(getattr(stub, method)(request), field="page_token")


@pytest.mark.parametrize("method", LISTS)
async def test_list_odd_parents(stub, method):
    for parent in ("workspaces/default/", "workspaces/a\x00", "workspaces/" + "a" * 100_000):
        await expect_invalid(getattr(stub, method)(LISTS[method](parent=parent)), field="parent")
