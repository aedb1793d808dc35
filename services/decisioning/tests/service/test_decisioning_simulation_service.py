"""SimulateDecisions and EvaluatePolicy through the real gRPC server: read-only runs of a
candidate configuration over customers, and of a candidate model over logged decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import publish, without_contact_limits

PARENT = "workspaces/default"
CUSTOMERS = [f"workspaces/default/customers/c{i}" for i in range(8)]
SEGMENT = "workspaces/default/segments/gold"


@pytest.fixture(autouse=True)
def known_customers(fake_services):
    for index, customer in enumerate(CUSTOMERS):
        fake_services.profile.traits[customer] = {"plan": "gold" if index % 2 else "basic"}
        fake_services.consent.grant(
            customer, "marketing", channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_IN_APP
        )
    fake_services.profile.segment_members[SEGMENT] = CUSTOMERS[1::2]


def action(channel=channel_pb2.CHANNEL_EMAIL, **fields) -> pb.Action:
    defaults = {
        "channels": [channel],
        "purpose": "marketing",
        "value": 10.0,
        "content": message_content_pb2.MessageContent(subject="s", text_body="b"),
    }
    defaults.update(fields)
    return pb.Action(**defaults)


@pytest.fixture
async def sim_stub(serve, make_settings):
    async with serve(make_settings(model_refresh_seconds=0)) as client:
        await client.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT,
                action_id="gold-offer",
                action=action(value=50.0, eligibility="profile.traits.plan == 'gold'"),
            )
        )
        await client.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT, action_id="banner", action=action(channel_pb2.CHANNEL_IN_APP)
            )
        )
        await without_contact_limits(client)
        yield client


def short(name: str) -> str:
    return name.rsplit("/", 1)[1]


async def list_decisions(stub) -> list[pb.Decision]:
    return list((await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT))).decisions)


async def test_simulating_customers_sums_up_and_stores_nothing(sim_stub, fake_services):
    unknown = "workspaces/default/customers/nobody"
    response = await sim_stub.SimulateDecisions(
        pb.SimulateDecisionsRequest(parent=PARENT, customers=[*CUSTOMERS, unknown], max_actions=1)
    )
    assert response.config_version == ""  # the draft
    assert response.customer_count == 8 and list(response.skipped_customers) == [unknown]
    assert response.reached_count == 8
    chosen = {short(a.action): (a.chosen_count, a.first_count) for a in response.actions}
    # Gold customers get the gold offer (priority 50 × 0.5), the others the banner.
    assert chosen == {"banner": (4, 4), "gold-offer": (4, 4)}
    reach = {c.channel: (c.customer_count, c.action_count) for c in response.channels}
    assert reach == {channel_pb2.CHANNEL_EMAIL: (4, 4), channel_pb2.CHANNEL_IN_APP: (4, 4)}
    exclusions = {e.reason: e.count for e in response.exclusions}
    assert exclusions == {"NOT_ELIGIBLE": 4, "OUTRANKED": 4}
    assert await list_decisions(sim_stub) == []
    assert len(fake_services.delivery.keys) == 0


async def test_the_draft_is_simulated_before_it_is_published(sim_stub):
    await sim_stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id="new-offer", action=action(value=1000.0))
    )
    draft = await sim_stub.SimulateDecisions(
        pb.SimulateDecisionsRequest(parent=PARENT, segment=SEGMENT, max_actions=1)
    )
    assert draft.config_version == "" and draft.customer_count == 4
    assert {short(a.action): a.first_count for a in draft.actions}["new-offer"] == 4
    versions = await sim_stub.ListDecisionConfigVersions(
        pb.ListDecisionConfigVersionsRequest(parent=PARENT)
    )
    live_version = versions.decision_config_versions[0].name
    live = await sim_stub.SimulateDecisions(
        pb.SimulateDecisionsRequest(
            parent=PARENT,
            segment=SEGMENT,
            sample_size=2,
            max_actions=1,
            config_version=live_version,
        )
    )
    assert live.customer_count == 2 and live.config_version == live_version
    assert "new-offer" not in {short(a.action) for a in live.actions}
    await publish(sim_stub)
    decided = await sim_stub.Decide(
        pb.DecideRequest(parent=PARENT, customer=CUSTOMERS[1], max_actions=1)
    )
    assert short(decided.actions[0].action) == "new-offer"


BAD = grpc.StatusCode.INVALID_ARGUMENT
ONE = CUSTOMERS[:1]
MISSING_VERSION = "workspaces/default/decisionConfigVersions/99"


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({}, BAD, "customers"),
        ({"customers": ONE, "segment": SEGMENT}, BAD, "customers"),
        ({"customers": [CUSTOMERS[0]] * 2}, BAD, "customers"),
        ({"customers": ["workspaces/default/x"]}, BAD, "customers[0]"),
        ({"segment": "segments/x"}, BAD, "segment"),
        ({"segment": SEGMENT, "sample_size": 5000}, BAD, "sample_size"),
        ({"customers": ONE, "max_actions": 101}, BAD, "max_actions"),
        ({"customers": ONE, "channel": 99}, BAD, "channel"),
        ({"customers": ONE, "config_version": MISSING_VERSION}, grpc.StatusCode.NOT_FOUND, None),
        ({"segment": "workspaces/default/segments/none"}, grpc.StatusCode.NOT_FOUND, None),
    ],
)
async def test_bad_simulations_are_refused(sim_stub, fields, code, field):
    await expect_error(
        sim_stub.SimulateDecisions(pb.SimulateDecisionsRequest(parent=PARENT, **fields)),
        code,
        field=field,
    )


def stamp(value: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(value)
    return result


async def test_evaluating_a_shadow_model_over_logged_decisions(sim_stub):
    model = await sim_stub.CreateModel(
        pb.CreateModelRequest(
            parent=PARENT,
            model_id="candidate",
            model=pb.Model(
                kind=pb.MODEL_KIND_BANDIT, mode=pb.MODEL_MODE_SHADOW, features=["traits.plan"]
            ),
        )
    )
    start = datetime.now(UTC) - timedelta(minutes=1)
    converted = 0
    for index, customer in enumerate(CUSTOMERS):
        decided = await sim_stub.Decide(
            pb.DecideRequest(parent=PARENT, customer=customer, max_actions=1)
        )
        assert decided.actions[0].probability == 1.0  # no active model: greedy
        if index % 4 == 1:
            converted += 1
            await sim_stub.RecordOutcome(
                pb.RecordOutcomeRequest(
                    parent=PARENT,
                    outcome=pb.Outcome(
                        decision=decided.decision,
                        customer=customer,
                        action=decided.actions[0].action,
                        type=pb.OUTCOME_TYPE_CONVERSION,
                    ),
                )
            )
    response = await sim_stub.EvaluatePolicy(
        pb.EvaluatePolicyRequest(parent=PARENT, model=model.name, start_time=stamp(start))
    )
    assert response.decision_count == 8 and response.skipped_count == 0
    assert response.logged.value == pytest.approx(converted / 8)
    for estimate in (response.logged, response.inverse_propensity, response.doubly_robust):
        assert estimate.lower <= estimate.value <= estimate.upper
        assert estimate.standard_error >= 0
    assert 0 <= response.agreement <= 1
    assert 0 < response.effective_sample_size <= 8
    # The gold customers had one eligible action: the candidate agrees on them for sure.
    assert response.agreement >= 0.5
    # Nothing before start_time.
    later = await sim_stub.EvaluatePolicy(
        pb.EvaluatePolicyRequest(
            parent=PARENT, model=model.name, start_time=stamp(datetime.now(UTC))
        )
    )
    assert later.decision_count == 0


async def test_bad_evaluations_are_refused(sim_stub):
    now = datetime.now(UTC)
    await expect_error(
        sim_stub.EvaluatePolicy(
            pb.EvaluatePolicyRequest(
                parent=PARENT, model="workspaces/default/models/none", start_time=stamp(now)
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    for request, field in [
        (pb.EvaluatePolicyRequest(parent=PARENT, start_time=stamp(now)), "model"),
        (
            pb.EvaluatePolicyRequest(parent=PARENT, model="workspaces/default/models/m"),
            "start_time",
        ),
        (
            pb.EvaluatePolicyRequest(
                parent=PARENT,
                model="workspaces/default/models/m",
                start_time=stamp(now),
                end_time=stamp(now - timedelta(days=1)),
            ),
            "end_time",
        ),
        (
            pb.EvaluatePolicyRequest(
                parent=PARENT,
                model="workspaces/default/models/m",
                start_time=stamp(now),
                max_decisions=-1,
            ),
            "max_decisions",
        ),
    ]:
        await expect_error(
            sim_stub.EvaluatePolicy(request), grpc.StatusCode.INVALID_ARGUMENT, field=field
        )
