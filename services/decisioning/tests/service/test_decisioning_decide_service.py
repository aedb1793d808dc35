"""Decide and RecordOutcome through the real gRPC server, against fake profile and consent.

Setup since the decision configuration is versioned: `create` publishes the draft after
each action (Decide uses the live version) with the default contact limits off (these
tests rank several email actions for one customer); Alice and Bob have profiles (an
unknown customer is NOT_FOUND).
"""

from __future__ import annotations

import math

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error, status_details
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import without_contact_limits

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"
BOB = "workspaces/default/customers/bob"


def action(channels=(channel_pb2.CHANNEL_EMAIL,), **fields) -> pb.Action:
    defaults = {
        "purpose": "marketing",
        "value": 100.0,
        "content": message_content_pb2.MessageContent(subject="s", text_body="b"),
    }
    defaults.update(fields)
    return pb.Action(channels=list(channels), **defaults)


@pytest.fixture(autouse=True)
def known_customers(fake_services):
    for customer in (ALICE, BOB):
        fake_services.profile.traits.setdefault(customer, {})


async def create(stub, action_id: str, message: pb.Action) -> None:
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=message)
    )
    await without_contact_limits(stub)  # and publish


def short(name: str) -> str:
    return name.rsplit("/", 1)[1]


async def decide(stub, customer=ALICE, **fields) -> pb.DecideResponse:
    return await stub.Decide(pb.DecideRequest(parent=PARENT, customer=customer, **fields))


async def test_ranking_with_score_parts_and_stored_decision(stub, fake_services):
    fake_services.profile.traits[ALICE] = {"email": "a@example.com", "age": 40}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    await create(stub, "low", action(value=10.0))
    await create(stub, "high", action(value=200.0, lever=2.0, base_propensity=0.25))
    await create(stub, "mid", action(value=100.0, eligibility="profile.traits.age > 18"))

    response = await decide(stub)
    assert response.decision.startswith("workspaces/default/decisions/")
    assert len(short(response.decision)) == 32
    assert [short(a.action) for a in response.actions] == ["high", "mid", "low"]
    assert [a.rank for a in response.actions] == [1, 2, 3]
    best = response.actions[0]
    assert best.priority == pytest.approx(0.25 * 1.0 * 200.0 * 2.0)
    assert best.score == pb.ScoreParts(propensity=0.25, context_weight=1.0, value=200.0, lever=2.0)
    assert best.probability == 1.0
    assert best.channel == channel_pb2.CHANNEL_EMAIL
    assert "= 100" in best.explanation and "consent granted" in best.explanation
    assert "profile.traits.age > 18" in response.actions[1].explanation
    assert list(response.excluded_actions) == []

    # One consent call for the one distinct (purpose, channel) pair.
    assert len(fake_services.consent.batch_requests) == 1
    batch = fake_services.consent.batch_requests[0]
    assert batch.parent == PARENT
    assert [(r.customer, r.purpose, r.channel) for r in batch.requests] == [
        (ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    ]

    # The decision is stored: an outcome can refer to it.
    outcome = await stub.RecordOutcome(
        pb.RecordOutcomeRequest(
            parent=PARENT,
            outcome=pb.Outcome(
                decision=response.decision,
                customer=ALICE,
                action=best.action,
                type=pb.OUTCOME_TYPE_CLICK,
                channel=channel_pb2.CHANNEL_EMAIL,
            ),
        )
    )
    assert outcome.name.startswith("workspaces/default/outcomes/")
    assert outcome.decision == response.decision
    assert outcome.type == pb.OUTCOME_TYPE_CLICK
    assert outcome.outcome_time == outcome.create_time


async def test_max_actions(stub, fake_services):
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    for i in range(5):
        await create(stub, f"a{i}", action(value=float(i + 1)))
    assert [short(a.action) for a in (await decide(stub)).actions] == ["a4", "a3", "a2"]
    assert len((await decide(stub, max_actions=1)).actions) == 1
    assert len((await decide(stub, max_actions=100)).actions) == 5
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await decide(stub, max_actions=101)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = status_details(caught.value)
    assert bad_request.field_violations[0].field == "max_actions"


async def test_exclusions_with_reasons(stub, fake_services):
    fake_services.profile.traits[ALICE] = {"age": 12}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    expired = action()
    expired.end_time.CopyFrom(timestamp_pb2.Timestamp(seconds=1_000_000))
    await create(stub, "expired", expired)
    await create(stub, "sms-only", action(channels=[channel_pb2.CHANNEL_SMS]))
    await create(stub, "adults", action(eligibility="profile.traits.age >= 18"))
    await create(stub, "broken", action(eligibility="context.page == 'home'"))
    await create(stub, "needs-service", action(purpose="service"))
    await create(stub, "ok", action())

    response = await decide(stub, channel=channel_pb2.CHANNEL_EMAIL)
    assert [short(a.action) for a in response.actions] == ["ok"]
    excluded = {short(e.action): e.reason for e in response.excluded_actions}
    assert excluded == {
        "expired": "OUT_OF_WINDOW",
        "sms-only": "CHANNEL_MISMATCH",
        "adults": "NOT_ELIGIBLE",
        "broken": "RULE_ERROR",
        "needs-service": "NO_CONSENT",
    }
    assert [short(e.action) for e in response.excluded_actions] == sorted(excluded)
    broken = next(e for e in response.excluded_actions if e.action.endswith("/broken"))
    assert "no such key: page" in broken.explanation


async def test_context_reaches_rules(stub, fake_services):
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    await create(stub, "home-only", action(eligibility="context.page == 'home'"))
    context = struct_pb2.Struct()
    context.update({"page": "home"})
    assert [short(a.action) for a in (await decide(stub, context=context)).actions] == ["home-only"]
    context.update({"page": "checkout"})
    response = await decide(stub, context=context)
    assert response.excluded_actions[0].reason == "NOT_ELIGIBLE"


async def test_consent_picks_the_first_allowed_channel(stub, fake_services):
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_SMS)
    await create(
        stub, "multi", action(channels=[channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS])
    )
    response = await decide(stub)
    assert response.actions[0].channel == channel_pb2.CHANNEL_SMS
    # A requested channel without consent excludes the action.
    response = await decide(stub, channel=channel_pb2.CHANNEL_EMAIL)
    assert list(response.actions) == []
    assert response.excluded_actions[0].reason == "NO_CONSENT"


async def test_inbound_needs_no_consent_and_no_call(stub, fake_services):
    await create(stub, "banner", action(channels=[channel_pb2.CHANNEL_INBOUND], content=None))
    response = await decide(stub, channel=channel_pb2.CHANNEL_INBOUND)
    assert [a.channel for a in response.actions] == [channel_pb2.CHANNEL_INBOUND]
    assert fake_services.consent.batch_requests == []


async def test_an_unknown_or_erased_customer_is_not_found(stub, fake_services):
    # Deliberate change: an unknown profile used to mean empty traits (and a decision).
    del fake_services.profile.traits[BOB]
    fake_services.consent.grant(BOB, "marketing", channel_pb2.CHANNEL_EMAIL)
    await create(stub, "anyone", action())
    info, _ = await expect_error(decide(stub, customer=BOB), grpc.StatusCode.NOT_FOUND)
    assert info.metadata["resource"] == BOB
    listed = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT))
    assert list(listed.decisions) == []
    # Consent is asked while the profile is fetched (latency): at most that one call.
    assert len(fake_services.consent.batch_requests) <= 1


async def test_consent_unavailable_refuses_to_decide(stub, fake_services):
    await create(stub, "a", action())
    fake_services.consent.unavailable = True
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await decide(stub)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    info, _ = status_details(caught.value)
    assert info.reason == "CONSENT_UNAVAILABLE"


async def test_consent_asked_once_for_every_pair_the_catalogue_could_need(stub, fake_services):
    # Asked while the profile is fetched: the pairs of every action, the excluded too.
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    await create(stub, "mail", action())
    await create(stub, "text", action(channels=[channel_pb2.CHANNEL_SMS], eligibility="false"))
    response = await decide(stub)
    assert [short(a.action) for a in response.actions] == ["mail"]
    assert len(fake_services.consent.batch_requests) == 1
    asked = fake_services.consent.batch_requests[0].requests
    assert sorted((r.purpose, r.channel) for r in asked) == [
        ("marketing", channel_pb2.CHANNEL_EMAIL),
        ("marketing", channel_pb2.CHANNEL_SMS),
    ]
    # A requested channel narrows the pairs to it.
    await decide(stub, channel=channel_pb2.CHANNEL_SMS)
    asked = fake_services.consent.batch_requests[1].requests
    assert [(r.purpose, r.channel) for r in asked] == [("marketing", channel_pb2.CHANNEL_SMS)]


async def test_consent_failure_does_not_matter_when_no_candidate_needs_consent(stub, fake_services):
    await create(stub, "banner", action(channels=[channel_pb2.CHANNEL_INBOUND], content=None))
    await create(stub, "mail", action(eligibility="false"))
    fake_services.consent.unavailable = True
    response = await decide(stub)
    assert [short(a.action) for a in response.actions] == ["banner"]
    assert [e.reason for e in response.excluded_actions] == ["NOT_ELIGIBLE"]
    # Once a candidate needs it, the failure refuses the decision.
    await create(stub, "mail2", action())
    info, _ = await expect_error(decide(stub), grpc.StatusCode.UNAVAILABLE)
    assert info.reason == "CONSENT_UNAVAILABLE"


async def test_a_profile_that_cannot_be_used_refuses_to_decide(stub, fake_services):
    await create(stub, "a", action())
    fake_services.profile.traits[ALICE] = {"age": struct_pb2.Value(number_value=math.nan)}
    info, _ = await expect_error(decide(stub), grpc.StatusCode.FAILED_PRECONDITION)
    assert info.reason == "PROFILE_UNUSABLE"
    listed = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT))
    assert list(listed.decisions) == []
    # A profile that cannot be reached is still UNAVAILABLE (the caller may retry).
    fake_services.profile.fail_get_with = [grpc.StatusCode.UNAVAILABLE]
    info, _ = await expect_error(decide(stub), grpc.StatusCode.UNAVAILABLE)
    assert info.reason == "PROFILE_UNAVAILABLE"


async def test_empty_catalogue_decides_nothing(stub, fake_services):
    response = await decide(stub)
    assert list(response.actions) == [] and list(response.excluded_actions) == []
    # Deliberate change (was 0): the profile is always asked, so that an unknown customer
    # is NOT_FOUND whatever the catalogue holds.
    assert fake_services.profile.get_profile_calls == 1


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"customer": ""}, "customer"),
        ({"customer": "alice"}, "customer"),
        ({"customer": "workspaces/other/customers/alice"}, "customer"),
        ({"channel": 99}, "channel"),
        ({"max_actions": -1}, "max_actions"),
    ],
)
async def test_decide_bad_input(stub, request_fields, field):
    values = {"parent": PARENT, "customer": ALICE}
    values.update(request_fields)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Decide(pb.DecideRequest(**values))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = status_details(caught.value)
    assert bad_request.field_violations[0].field == field


async def test_unknown_workspace_is_not_found(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Decide(pb.DecideRequest(parent="workspaces/x", customer=ALICE))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# -- RecordOutcome -------------------------------------------------------------------


def outcome(**fields) -> pb.Outcome:
    values = {
        "customer": ALICE,
        "action": "workspaces/default/actions/a",
        "type": pb.OUTCOME_TYPE_IMPRESSION,
    }
    values.update(fields)
    return pb.Outcome(**values)


async def test_outcome_without_decision(stub):
    await create(stub, "a", action())
    when = timestamp_pb2.Timestamp(seconds=1_700_000_000)
    recorded = await stub.RecordOutcome(
        pb.RecordOutcomeRequest(parent=PARENT, outcome=outcome(outcome_time=when))
    )
    assert recorded.decision == ""
    assert recorded.outcome_time == when
    assert recorded.create_time.seconds > when.seconds


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"customer": ""}, grpc.StatusCode.INVALID_ARGUMENT, "outcome.customer"),
        ({"action": ""}, grpc.StatusCode.INVALID_ARGUMENT, "outcome.action"),
        ({"type": pb.OUTCOME_TYPE_UNSPECIFIED}, grpc.StatusCode.INVALID_ARGUMENT, "outcome.type"),
        ({"channel": 77}, grpc.StatusCode.INVALID_ARGUMENT, "outcome.channel"),
        (
            {"outcome_time": timestamp_pb2.Timestamp(seconds=4_000_000_000)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "outcome.outcome_time",
        ),
        ({"action": "workspaces/default/actions/nope"}, grpc.StatusCode.NOT_FOUND, None),
        ({"decision": "workspaces/default/decisions/" + "0" * 32}, grpc.StatusCode.NOT_FOUND, None),
        ({"decision": "0" * 32}, grpc.StatusCode.INVALID_ARGUMENT, "outcome.decision"),
        (
            {"decision": "workspaces/other/decisions/" + "0" * 32},
            grpc.StatusCode.INVALID_ARGUMENT,
            "outcome.decision",
        ),
    ],
)
async def test_outcome_errors(stub, fields, code, field):
    await create(stub, "a", action())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RecordOutcome(pb.RecordOutcomeRequest(parent=PARENT, outcome=outcome(**fields)))
    assert caught.value.code() == code
    info, bad_request = status_details(caught.value)
    assert info is not None
    if field is not None:
        assert bad_request.field_violations[0].field == field


async def test_outcome_for_another_customers_decision_is_refused(stub, fake_services):
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    await create(stub, "a", action())
    decision = await decide(stub)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RecordOutcome(
            pb.RecordOutcomeRequest(
                parent=PARENT, outcome=outcome(customer=BOB, decision=decision.decision)
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = status_details(caught.value)
    assert bad_request.field_violations[0].field == "outcome.decision"


async def test_scopes_are_enforced(serve, make_settings, fake_services):
    settings = make_settings(
        auth_tokens={"reader": ["decisioning.read"], "decider": ["decisioning.decide"]}
    )
    async with serve(settings) as client:
        reader = [("authorization", "Bearer reader")]
        decider = [("authorization", "Bearer decider")]
        await client.ListActions(pb.ListActionsRequest(parent=PARENT), metadata=reader)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE), metadata=reader)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await client.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE), metadata=decider)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.CreateAction(
                pb.CreateActionRequest(parent=PARENT, action_id="a", action=action()),
                metadata=decider,
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
