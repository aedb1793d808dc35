"""Models through the real gRPC server: CRUD, the bandit scoring Decide, learning from
RecordOutcome, shadow mode, and what each decision records for off-policy evaluation."""

from __future__ import annotations

import asyncio
import math

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import without_contact_limits

PARENT = "workspaces/default"
CUSTOMERS = [f"workspaces/default/customers/c{i}" for i in range(6)]


@pytest.fixture(autouse=True)
def known_customers(fake_services):
    for index, customer in enumerate(CUSTOMERS):
        fake_services.profile.traits[customer] = {"plan": "gold" if index % 2 else "basic"}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)


@pytest.fixture
async def models_stub(serve, make_settings):
    async with serve(make_settings(model_refresh_seconds=0)) as client:
        for action_id in ("offer-a", "offer-b"):
            await client.CreateAction(
                pb.CreateActionRequest(
                    parent=PARENT,
                    action_id=action_id,
                    action=pb.Action(
                        channels=[channel_pb2.CHANNEL_EMAIL],
                        purpose="marketing",
                        value=10.0,
                        base_propensity=0.2,
                        content=message_content_pb2.MessageContent(subject="s", text_body="b"),
                    ),
                )
            )
        await without_contact_limits(client)
        yield client


def bandit(mode=pb.MODEL_MODE_ACTIVE, **fields) -> pb.Model:
    defaults = {
        "kind": pb.MODEL_KIND_BANDIT,
        "mode": mode,
        "features": ["traits.plan", "context.placement"],
        "dimensions": 16,
    }
    defaults.update(fields)
    return pb.Model(**defaults)


async def create_model(stub, model_id="nba", **fields) -> pb.Model:
    return await stub.CreateModel(
        pb.CreateModelRequest(parent=PARENT, model_id=model_id, model=bandit(**fields))
    )


async def decide(stub, customer, max_actions=1) -> pb.DecideResponse:
    return await stub.Decide(
        pb.DecideRequest(
            parent=PARENT,
            customer=customer,
            max_actions=max_actions,
            placement="home",
            context=struct_pb2.Struct(),
        )
    )


async def outcome(stub, response: pb.DecideResponse, customer: str, kind) -> None:
    await stub.RecordOutcome(
        pb.RecordOutcomeRequest(
            parent=PARENT,
            outcome=pb.Outcome(
                decision=response.decision,
                customer=customer,
                action=response.actions[0].action,
                type=kind,
            ),
        )
    )


async def test_model_crud_and_one_active_model(models_stub):
    created = await create_model(models_stub, display_name="Next best action")
    assert created.name == "workspaces/default/models/nba"
    assert created.kind == pb.MODEL_KIND_BANDIT and created.mode == pb.MODEL_MODE_ACTIVE
    assert created.dimensions == 16 and created.exploration == 0.25
    assert created.prior_precision == 1.0
    assert created.reward_outcome == pb.OUTCOME_TYPE_CONVERSION
    assert created.HasField("create_time")
    assert await models_stub.GetModel(pb.GetModelRequest(name=created.name)) == created

    info, _ = await expect_error(
        create_model(models_stub, "second"), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert info.reason == "ACTIVE_MODEL_EXISTS" and info.metadata["model"] == created.name
    shadow = await create_model(models_stub, "second", mode=pb.MODEL_MODE_SHADOW)
    await expect_error(
        create_model(models_stub, "second", mode=pb.MODEL_MODE_SHADOW),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    listed = await models_stub.ListModels(pb.ListModelsRequest(parent=PARENT, page_size=1))
    assert [m.name for m in listed.models] == [created.name] and listed.next_page_token
    rest = await models_stub.ListModels(
        pb.ListModelsRequest(parent=PARENT, page_token=listed.next_page_token)
    )
    assert [m.name for m in rest.models] == [shadow.name] and not rest.next_page_token

    updated = await models_stub.UpdateModel(
        pb.UpdateModelRequest(
            model=pb.Model(name=created.name, mode=pb.MODEL_MODE_SHADOW, exploration=2.0),
            update_mask=field_mask_pb2.FieldMask(paths=["mode", "exploration"]),
        )
    )
    assert updated.mode == pb.MODEL_MODE_SHADOW and updated.exploration == 2.0
    assert updated.features == created.features
    # Now the other one may be active.
    await models_stub.UpdateModel(
        pb.UpdateModelRequest(model=pb.Model(name=shadow.name, mode=pb.MODEL_MODE_ACTIVE))
    )

    await models_stub.DeleteModel(pb.DeleteModelRequest(name=created.name))
    await expect_error(
        models_stub.GetModel(pb.GetModelRequest(name=created.name)), grpc.StatusCode.NOT_FOUND
    )
    await expect_error(
        models_stub.DeleteModel(pb.DeleteModelRequest(name=created.name)),
        grpc.StatusCode.NOT_FOUND,
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": pb.MODEL_KIND_UNSPECIFIED}, "model.kind"),
        ({"kind": 99}, "model.kind"),
        ({"mode": pb.MODEL_MODE_UNSPECIFIED}, "model.mode"),
        ({"features": ["traits.plan", "profile.secret"]}, "model.features[1]"),
        ({"features": ["traits.plan", "traits.plan"]}, "model.features"),
        ({"dimensions": 100_000}, "model.dimensions"),
        ({"dimensions": -1}, "model.dimensions"),
        ({"exploration": float("nan")}, "model.exploration"),
        ({"exploration": -1.0}, "model.exploration"),
        ({"prior_precision": float("inf")}, "model.prior_precision"),
        ({"reward_outcome": pb.OUTCOME_TYPE_IMPRESSION}, "model.reward_outcome"),
    ],
)
async def test_bad_models_are_refused_naming_the_field(models_stub, fields, field):
    await expect_error(
        create_model(models_stub, **fields), grpc.StatusCode.INVALID_ARGUMENT, field=field
    )
    listed = await models_stub.ListModels(pb.ListModelsRequest(parent=PARENT))
    assert list(listed.models) == []


async def test_a_decision_records_model_features_and_probability(models_stub):
    model = await create_model(models_stub)
    response = await decide(models_stub, CUSTOMERS[1], max_actions=2)
    assert response.model == model.name
    assert dict(response.features) == {
        "bias": 1.0,
        "traits.plan=gold": 1.0,
        "context.placement=home": 1.0,
    }
    assert len(response.actions) == 2
    for ranked in response.actions:
        assert 0 < ranked.probability <= 1
        assert "Thompson draw of model nba" in ranked.explanation
        assert 0 <= ranked.score.propensity <= 1
    # Before any learning both actions are alike: neither is chosen for sure.
    assert response.actions[0].probability < 1
    stored = await models_stub.GetDecision(pb.GetDecisionRequest(name=response.decision))
    assert stored.model == model.name
    assert dict(stored.features) == dict(response.features)
    assert [a.probability for a in stored.actions] == [a.probability for a in response.actions]


async def test_the_bandit_learns_from_outcomes(models_stub):
    """Gold customers convert on offer-a, never on offer-b: after some rounds of
    decisions and outcomes the model chooses offer-a for them almost surely."""
    await create_model(models_stub, exploration=0.3, reward_outcome=pb.OUTCOME_TYPE_CLICK)
    gold = [c for i, c in enumerate(CUSTOMERS) if i % 2]
    for round_ in range(12):
        customer = gold[round_ % len(gold)]
        response = await decide(models_stub, customer, max_actions=2)
        for ranked in response.actions:
            chosen = pb.DecideResponse(decision=response.decision, actions=[ranked])
            await outcome(models_stub, chosen, customer, pb.OUTCOME_TYPE_IMPRESSION)
            if ranked.action.endswith("offer-a"):
                await outcome(models_stub, chosen, customer, pb.OUTCOME_TYPE_CLICK)
                # A repeated reward adds nothing.
                await outcome(models_stub, chosen, customer, pb.OUTCOME_TYPE_CLICK)
    response = await decide(models_stub, gold[0])
    assert response.actions[0].action.endswith("offer-a")
    assert response.actions[0].probability > 0.9
    assert response.actions[0].score.propensity > 0.6


async def test_a_shadow_model_scores_without_acting(models_stub):
    plain = await decide(models_stub, CUSTOMERS[0], max_actions=2)
    assert plain.model == "" and dict(plain.features) == {}
    model = await create_model(models_stub, "shadow", mode=pb.MODEL_MODE_SHADOW)
    shadowed = await decide(models_stub, CUSTOMERS[0], max_actions=2)
    assert shadowed.model == ""
    assert [(a.action, a.priority, a.probability) for a in shadowed.actions] == [
        (a.action, a.priority, a.probability) for a in plain.actions
    ]
    assert [a.probability for a in shadowed.actions] == [1.0, 1.0]
    assert "traits.plan=basic" in shadowed.features
    assert {(s.model, s.action) for s in shadowed.shadow_scores} == {
        (model.name, a.action) for a in shadowed.actions
    }
    assert all(s.propensity == pytest.approx(0.2) for s in shadowed.shadow_scores)


# -- ONNX ------------------------------------------------------------------------------


def logistic_onnx(weights: list[float], bias: float, *, columns: int | None = None) -> bytes:
    """sigmoid(X @ weights + bias) as an ONNX graph: input X [N, columns], output [N, 1]."""
    from onnx import TensorProto, helper

    width = len(weights) if columns is None else columns
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["Z0"]),
            helper.make_node("Add", ["Z0", "B"], ["Z"]),
            helper.make_node("Sigmoid", ["Z"], ["P"]),
        ],
        "logistic",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("P", TensorProto.FLOAT, ["N", 1])],
        [
            helper.make_tensor("W", TensorProto.FLOAT, [len(weights), 1], weights),
            helper.make_tensor("B", TensorProto.FLOAT, [1], [bias]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def onnx_model(mode=pb.MODEL_MODE_ACTIVE, **fields) -> pb.Model:
    defaults = {
        "kind": pb.MODEL_KIND_ONNX,
        "mode": mode,
        "features": ["traits.age", "action=offer-b"],
        # offer-b for older customers: p = sigmoid(0.1 * (age - 30) + 2 * is_b - 1).
        "onnx_model": logistic_onnx([0.1, 2.0], -4.0),
    }
    defaults.update(fields)
    return pb.Model(**defaults)


async def test_an_onnx_model_scores_decisions(models_stub, fake_services):
    fake_services.profile.traits[CUSTOMERS[0]]["age"] = 30
    created = await models_stub.CreateModel(
        pb.CreateModelRequest(parent=PARENT, model_id="trained", model=onnx_model())
    )
    assert created.kind == pb.MODEL_KIND_ONNX and created.onnx_model == b""
    assert len(created.onnx_sha256) == 64
    response = await decide(models_stub, CUSTOMERS[0], max_actions=2)
    assert response.model == created.name
    assert [a.action.rsplit("/", 1)[1] for a in response.actions] == ["offer-b", "offer-a"]
    expected = [1 / (1 + math.exp(-(3.0 + 2.0 - 4.0))), 1 / (1 + math.exp(-(3.0 - 4.0)))]
    assert [a.score.propensity for a in response.actions] == pytest.approx(expected, rel=1e-5)
    assert [a.probability for a in response.actions] == [1.0, 1.0]
    assert "ONNX model trained" in response.actions[0].explanation
    assert dict(response.features) == {"traits.age": 30.0}

    # Updating other fields keeps the stored model.
    updated = await models_stub.UpdateModel(
        pb.UpdateModelRequest(
            model=pb.Model(name=created.name, mode=pb.MODEL_MODE_SHADOW),
            update_mask=field_mask_pb2.FieldMask(paths=["mode"]),
        )
    )
    assert updated.onnx_sha256 == created.onnx_sha256
    shadowed = await decide(models_stub, CUSTOMERS[0], max_actions=2)
    assert shadowed.model == ""
    assert {s.action.rsplit("/", 1)[1]: s.propensity for s in shadowed.shadow_scores} == {
        "offer-b": pytest.approx(expected[0], rel=1e-5),
        "offer-a": pytest.approx(expected[1], rel=1e-5),
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"onnx_model": b"not an onnx model"}, "model.onnx_model"),
        ({"onnx_model": b""}, "model.onnx_model"),
        ({"features": ["traits.age"]}, "model.onnx_model"),  # 2 columns in the graph
        ({"features": []}, "model.features"),
        ({"features": ["traits.age", "action.unknown"]}, "model.features[1]"),
        ({"features": ["traits.age", "action=Bad Id"]}, "model.features[1]"),
        ({"onnx_model": b"\x00" * (3 * 1024 * 1024 + 1)}, "model.onnx_model"),
    ],
)
async def test_bad_onnx_models_are_refused(models_stub, fields, field):
    await expect_error(
        models_stub.CreateModel(
            pb.CreateModelRequest(parent=PARENT, model_id="trained", model=onnx_model(**fields))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field=field,
    )


async def test_a_bandit_takes_no_onnx_model(models_stub):
    await expect_error(
        create_model(models_stub, onnx_model=logistic_onnx([1.0], 0.0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="model.onnx_model",
    )


async def test_concurrent_decisions_are_all_stored_before_they_are_answered(models_stub):
    """Decide's records go through the group-commit writer: every answered decision can
    be read at once, however many were made together."""
    await create_model(models_stub)
    responses = await asyncio.gather(
        *(decide(models_stub, CUSTOMERS[i % len(CUSTOMERS)]) for i in range(30))
    )
    for response in responses:
        stored = await models_stub.GetDecision(pb.GetDecisionRequest(name=response.decision))
        assert stored.actions[0].action == response.actions[0].action
        assert dict(stored.features) == dict(response.features)
    listed = await models_stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT, page_size=100))
    assert len(listed.decisions) == 30
