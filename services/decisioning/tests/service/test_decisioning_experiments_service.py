"""Experiments with control groups, conversion rules and attribution, delivery status
events as outcomes, deduplicated outcomes, and the customer's data (export, erase),
through the real gRPC server against the fake profile, consent and delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually, expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import publish, without_contact_limits

PARENT = "workspaces/default"
RENEWAL = "workspaces/default/actions/renewal"
OTHER = "workspaces/default/actions/other"
EXPERIMENT = "workspaces/default/experiments/renewal-test"
CUSTOMERS = [f"workspaces/default/customers/c{i:03d}" for i in range(60)]
EMAIL = channel_pb2.CHANNEL_EMAIL
MODEL = pb.EXPERIMENT_STRATEGY_MODEL
CONTROL = pb.EXPERIMENT_STRATEGY_CONTROL


def action(**fields) -> pb.Action:
    defaults = {
        "channels": [EMAIL],
        "purpose": "marketing",
        "value": 100.0,
        "content": message_content_pb2.MessageContent(subject="s", text_body="b"),
    }
    defaults.update(fields)
    return pb.Action(**defaults)


def arms(*specs: tuple[str, int, int]) -> list[pb.ExperimentArm]:
    return [pb.ExperimentArm(arm_id=a, strategy=s, weight=w) for a, s, w in specs]


async def catalogue(stub) -> None:
    for action_id, value in (("renewal", 200.0), ("other", 10.0)):
        await stub.CreateAction(
            pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=action(value=value))
        )
    await without_contact_limits(stub)


async def create_experiment(stub, **fields) -> pb.Experiment:
    experiment = pb.Experiment(
        display_name="Renewal reminder test",
        actions=[RENEWAL],
        arms=arms(("treated", MODEL, 1), ("control", CONTROL, 1)),
    )
    for key, value in fields.items():
        if key in ("arms", "actions"):
            del getattr(experiment, key)[:]
            getattr(experiment, key).extend(value)
        elif key in ("start_time", "end_time"):
            getattr(experiment, key).CopyFrom(value)
        else:
            setattr(experiment, key, value)
    return await stub.CreateExperiment(
        pb.CreateExperimentRequest(
            parent=PARENT, experiment_id="renewal-test", experiment=experiment
        )
    )


@pytest.fixture(autouse=True)
def customers(fake_services):
    for customer in CUSTOMERS:
        fake_services.profile.traits[customer] = {}
        fake_services.consent.grant(customer, "marketing", EMAIL)


async def test_experiment_crud_and_refusals(stub):
    await catalogue(stub)
    created = await create_experiment(stub)
    assert created.name == EXPERIMENT
    assert list(created.actions) == [RENEWAL]
    assert [(a.arm_id, a.strategy, a.weight) for a in created.arms] == [
        ("treated", MODEL, 1),
        ("control", CONTROL, 1),
    ]
    assert created.create_time.seconds > 0
    assert await stub.GetExperiment(pb.GetExperimentRequest(name=EXPERIMENT)) == created
    listed = await stub.ListExperiments(pb.ListExperimentsRequest(parent=PARENT))
    assert [e.name for e in listed.experiments] == [EXPERIMENT]
    await expect_error(create_experiment(stub), grpc.StatusCode.ALREADY_EXISTS)

    refusals = [
        ({"arms": arms(("only", MODEL, 1))}, "experiment.arms"),
        ({"arms": arms(("a", MODEL, 1), ("a", CONTROL, 1))}, "experiment.arms[1].arm_id"),
        ({"arms": arms(("a", CONTROL, 1), ("b", CONTROL, 1))}, "experiment.arms"),
        ({"arms": arms(("a", MODEL, 0), ("b", CONTROL, 1))}, "experiment.arms[0].weight"),
        ({"arms": arms(("a", 0, 1), ("b", CONTROL, 1))}, "experiment.arms[0].strategy"),
        ({"arms": arms(("a", 99, 1), ("b", CONTROL, 1))}, "experiment.arms[0].strategy"),
        ({"arms": arms(("A", MODEL, 1), ("b", CONTROL, 1))}, "experiment.arms[0].arm_id"),
        ({"actions": ["workspaces/other/actions/renewal"]}, "experiment.actions[0]"),
        # An experiment that could never run: ended already, or ending before it starts.
        ({"end_time": _at(datetime(2020, 1, 1, tzinfo=UTC))}, "experiment.end_time"),
        (
            {
                "start_time": _at(datetime.now(UTC) + timedelta(days=2)),
                "end_time": _at(datetime.now(UTC) + timedelta(days=1)),
            },
            "experiment.end_time",
        ),
    ]
    for fields, field in refusals:
        await stub.DeleteExperiment(pb.DeleteExperimentRequest(name=EXPERIMENT))
        await expect_error(
            create_experiment(stub, **fields), grpc.StatusCode.INVALID_ARGUMENT, field=field
        )
        await create_experiment(stub)
    await stub.DeleteExperiment(pb.DeleteExperimentRequest(name=EXPERIMENT))
    await expect_error(
        create_experiment(stub, actions=["workspaces/default/actions/missing"]),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        stub.GetExperiment(pb.GetExperimentRequest(name=EXPERIMENT)), grpc.StatusCode.NOT_FOUND
    )
    await expect_error(
        stub.DeleteExperiment(pb.DeleteExperimentRequest(name=EXPERIMENT)),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_control_group_gets_nothing_of_the_experiment_but_is_recorded(stub):
    await catalogue(stub)
    await create_experiment(stub)
    arms_seen: dict[str, str] = {}
    for customer in CUSTOMERS:
        response = await stub.Decide(
            pb.DecideRequest(parent=PARENT, customer=customer, max_actions=2)
        )
        decision = await stub.GetDecision(pb.GetDecisionRequest(name=response.decision))
        assert decision.experiment == EXPERIMENT
        arms_seen[customer] = decision.experiment_arm
        chosen = [a.action for a in response.actions]
        if decision.control:
            assert decision.experiment_arm == "control"
            # The experiment's action is held back; the others are not.
            assert chosen == [OTHER]
            held = [e for e in response.excluded_actions if e.action == RENEWAL]
            assert [e.reason for e in held] == ["CONTROL_GROUP"]
        else:
            assert decision.experiment_arm == "treated"
            assert chosen == [RENEWAL, OTHER]
    counts = {arm: list(arms_seen.values()).count(arm) for arm in ("treated", "control")}
    # 60 customers split by a hash at 50/50: both arms are used.
    assert counts["treated"] > 10 and counts["control"] > 10
    # Deterministic: the same customer lands in the same arm again.
    for customer in CUSTOMERS[:10]:
        response = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=customer))
        decision = await stub.GetDecision(pb.GetDecisionRequest(name=response.decision))
        assert decision.experiment_arm == arms_seen[customer]


async def test_random_and_rules_only_arms(stub):
    await catalogue(stub)
    await create_experiment(
        stub, actions=[], arms=arms(("random", pb.EXPERIMENT_STRATEGY_RANDOM, 1),
                                    ("rules", pb.EXPERIMENT_STRATEGY_RULES_ONLY, 1))
    )  # fmt: skip
    firsts = set()
    for customer in CUSTOMERS:
        response = await stub.Decide(
            pb.DecideRequest(parent=PARENT, customer=customer, max_actions=2)
        )
        decision = await stub.GetDecision(pb.GetDecisionRequest(name=response.decision))
        if decision.experiment_arm == "rules":
            assert [a.action for a in response.actions] == [RENEWAL, OTHER]
            assert [a.probability for a in response.actions] == [1.0, 1.0]
        else:
            # A uniformly random order of the two: 1/2 for the first, then certain.
            assert [a.probability for a in response.actions] == [0.5, 1.0]
            firsts.add(response.actions[0].action)
    assert firsts == {RENEWAL, OTHER}


async def test_conversions_are_attributed_for_treated_and_control_and_reported(
    serve, make_settings, fake_services
):
    settings = make_settings(triggers_enabled=True)
    async with serve(settings) as stub:
        await catalogue(stub)
        await create_experiment(stub)
        rule = await stub.CreateConversionRule(
            pb.CreateConversionRuleRequest(
                parent=PARENT,
                conversion_rule_id="renewed",
                conversion_rule=pb.ConversionRule(
                    action=RENEWAL,
                    event_name="Policy Renewed",
                    window=duration_pb2.Duration(seconds=30 * 86400),
                ),
            )
        )
        assert rule.name == "workspaces/default/conversionRules/renewed"
        got = await stub.GetConversionRule(pb.GetConversionRuleRequest(name=rule.name))
        assert got == rule
        listed = await stub.ListConversionRules(pb.ListConversionRulesRequest(parent=PARENT))
        assert [r.name for r in listed.conversion_rules] == [rule.name]

        control, treated = [], []
        for customer in CUSTOMERS[:30]:
            response = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=customer))
            decision = await stub.GetDecision(pb.GetDecisionRequest(name=response.decision))
            (control if decision.control else treated).append(customer)
        # Every treated customer renews, one control customer does; an unrelated event
        # and a customer without a decision convert nothing.
        for customer in [*treated, control[0]]:
            await fake_services.emit_event(customer, "Policy Renewed", properties={"value": 50})
        await fake_services.emit_event(control[1], "Page Viewed")
        await fake_services.emit_event(CUSTOMERS[40], "Policy Renewed")
        # A replayed event (same message id) is not counted twice.
        replayed = await fake_services.emit_event(treated[0], "Policy Renewed", message_id="r1")
        await fake_services.profile.add_signal(replayed)

        async def conversions() -> list[pb.Outcome]:
            page = await stub.ListOutcomes(pb.ListOutcomesRequest(parent=PARENT, page_size=1000))
            return [o for o in page.outcomes if o.type == pb.OUTCOME_TYPE_CONVERSION]

        expected = len(treated) + 2  # + control[0] + the replayed one once

        async def all_attributed() -> bool:
            return len(await conversions()) == expected

        await eventually(all_attributed)
        outcomes = await conversions()
        assert {o.customer for o in outcomes} == {*treated, control[0]}
        assert all(o.action == RENEWAL and o.decision for o in outcomes)

        report = await stub.GetExperimentReport(pb.GetExperimentReportRequest(name=EXPERIMENT))
        by_arm = {a.arm_id: a for a in report.arms}
        assert report.experiment == EXPERIMENT
        assert by_arm["treated"].reach == len(treated)
        assert by_arm["control"].reach == len(control)
        assert by_arm["treated"].conversions == len(treated)
        assert by_arm["control"].conversions == 1
        assert by_arm["treated"].conversion_rate.estimate == 1.0
        assert by_arm["treated"].conversion_value == 50.0 * len(treated)
        rate = by_arm["control"].conversion_rate
        assert rate.estimate == pytest.approx(1 / len(control))
        assert 0.0 < rate.lower < rate.estimate < rate.upper < 1.0
        lift = by_arm["treated"].uplift
        assert lift.estimate == pytest.approx(1.0 - 1 / len(control))
        assert 0.0 < lift.lower < lift.estimate <= lift.upper
        assert not by_arm["control"].HasField("uplift")

        await stub.DeleteConversionRule(pb.DeleteConversionRuleRequest(name=rule.name))
        await expect_error(
            stub.GetConversionRule(pb.GetConversionRuleRequest(name=rule.name)),
            grpc.StatusCode.NOT_FOUND,
        )


TRIGGER_CATALOGUE = """
settings:
  contact_limits: []
actions:
  - id: renewal
    channels: [email]
    purpose: marketing
    value: 120.0
    content:
      subject: "Renew"
      text_body: "Renew soon."
triggers:
  - id: renewal-due
    event_name: Policy Renewal Due
    action: renewal
    channel: email
"""


async def test_delivery_status_events_are_outcomes_of_the_triggered_decision(
    serve, make_settings, fake_services, tmp_path
):
    path = tmp_path / "catalogue.yaml"
    path.write_text(TRIGGER_CATALOGUE)
    customer = CUSTOMERS[0]
    async with serve(make_settings(catalogue_file=path, triggers_enabled=True)) as stub:
        await fake_services.emit_event(customer, "Policy Renewal Due")
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
        message = "workspaces/default/messages/m1"
        for name in ("Email Delivered", "Email Opened", "Email Clicked"):
            await fake_services.emit_event(customer, name, properties={"message": message})
        # Another customer's event naming the message, and an unknown message: nothing.
        await fake_services.emit_event(
            CUSTOMERS[1], "Email Opened", properties={"message": message}
        )
        await fake_services.emit_event(
            customer, "Email Opened", properties={"message": "workspaces/default/messages/x"}
        )

        async def outcomes() -> list[pb.Outcome]:
            return list((await stub.ListOutcomes(pb.ListOutcomesRequest(parent=PARENT))).outcomes)

        async def three() -> bool:
            return len(await outcomes()) == 3

        await eventually(three)
        recorded = await outcomes()
        assert {o.type for o in recorded} == {
            pb.OUTCOME_TYPE_DELIVERED,
            pb.OUTCOME_TYPE_OPENED,
            pb.OUTCOME_TYPE_CLICK,
        }
        decisions = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT))
        assert {o.decision for o in recorded} == {decisions.decisions[0].name}
        assert all(o.action == RENEWAL and o.channel == EMAIL for o in recorded)


async def test_record_outcome_is_deduplicated_by_request_id(stub):
    await catalogue(stub)
    request = pb.RecordOutcomeRequest(
        parent=PARENT,
        request_id="click-1",
        outcome=pb.Outcome(
            customer=CUSTOMERS[0], action=RENEWAL, type=pb.OUTCOME_TYPE_CONVERSION, value=12.5
        ),
    )
    first = await stub.RecordOutcome(request)
    again = await stub.RecordOutcome(request)
    assert again == first
    assert first.value == 12.5
    page = await stub.ListOutcomes(pb.ListOutcomesRequest(parent=PARENT))
    assert [o.name for o in page.outcomes] == [first.name]
    changed = pb.RecordOutcomeRequest()
    changed.CopyFrom(request)
    changed.outcome.value = 13.0
    info, _ = await expect_error(stub.RecordOutcome(changed), grpc.StatusCode.FAILED_PRECONDITION)
    assert info.reason == "REQUEST_ID_REUSED"
    for bad, field in (
        ({"value": -1.0}, "outcome.value"),
        ({"value": float("nan")}, "outcome.value"),
        ({"request_id": "x" * 201}, "request_id"),
        ({"request_id": "é"}, "request_id"),
    ):
        wrong = pb.RecordOutcomeRequest()
        wrong.CopyFrom(request)
        if "value" in bad:
            wrong.outcome.value = bad["value"]
        else:
            wrong.request_id = bad["request_id"]
        await expect_error(stub.RecordOutcome(wrong), grpc.StatusCode.INVALID_ARGUMENT, field=field)


async def test_export_pages_and_erase_the_customers_decisions(stub, fake_services):
    await catalogue(stub)
    await publish(stub)
    alice, bob = CUSTOMERS[0], CUSTOMERS[1]
    decided = [await stub.Decide(pb.DecideRequest(parent=PARENT, customer=alice)) for _ in range(3)]
    await stub.Decide(pb.DecideRequest(parent=PARENT, customer=bob))
    for response in decided[:2]:
        await stub.RecordOutcome(
            pb.RecordOutcomeRequest(
                parent=PARENT,
                outcome=pb.Outcome(
                    customer=alice,
                    action=RENEWAL,
                    decision=response.decision,
                    type=pb.OUTCOME_TYPE_IMPRESSION,
                ),
            )
        )
    decisions, outcomes, token, pages = [], [], "", 0
    while True:
        page = await stub.ExportCustomerDecisions(
            pb.ExportCustomerDecisionsRequest(
                parent=PARENT, customer=alice, page_size=2, page_token=token
            )
        )
        pages += 1
        assert len(page.decisions) + len(page.outcomes) <= 2
        decisions += page.decisions
        outcomes += page.outcomes
        token = page.next_page_token
        if not token:
            break
    assert pages >= 3
    assert [d.name for d in decisions] == [r.decision for r in reversed(decided)]
    assert {o.decision for o in outcomes} == {r.decision for r in decided[:2]}
    assert all(d.customer == alice for d in decisions)

    erased = await stub.EraseCustomerDecisions(
        pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=alice)
    )
    assert (erased.decision_count, erased.outcome_count) == (3, 2)
    empty = await stub.ExportCustomerDecisions(
        pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=alice)
    )
    assert (list(empty.decisions), list(empty.outcomes), empty.next_page_token) == ([], [], "")
    await expect_error(
        stub.GetDecision(pb.GetDecisionRequest(name=decided[0].decision)),
        grpc.StatusCode.NOT_FOUND,
    )
    # Bob's decision stays.
    left = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT))
    assert [d.customer for d in left.decisions] == [bob]
    # Erased from profile too: Decide is NOT_FOUND.
    del fake_services.profile.traits[alice]
    await expect_error(
        stub.Decide(pb.DecideRequest(parent=PARENT, customer=alice)), grpc.StatusCode.NOT_FOUND
    )
    await expect_error(
        stub.EraseCustomerDecisions(
            pb.EraseCustomerDecisionsRequest(parent=PARENT, customer="workspaces/other/customers/x")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="customer",
    )


# -- UpdateExperiment ------------------------------------------------------------------


def _at(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def update_experiment(stub, paths: list[str], **fields) -> pb.Experiment:
    experiment = pb.Experiment(name=EXPERIMENT, **fields)
    return await stub.UpdateExperiment(
        pb.UpdateExperimentRequest(
            experiment=experiment, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
    )


async def arm_of(stub, customer: str) -> tuple[str, str]:
    response = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=customer))
    decision = await stub.GetDecision(pb.GetDecisionRequest(name=response.decision))
    return decision.experiment, decision.experiment_arm


async def test_a_running_experiment_is_renamed_and_stopped_and_keeps_its_report(stub):
    await catalogue(stub)
    await create_experiment(stub)
    assert (await arm_of(stub, CUSTOMERS[0]))[0] == EXPERIMENT

    renamed = await update_experiment(stub, ["display_name"], display_name="Renewal, round 1")
    assert renamed.display_name == "Renewal, round 1"
    assert renamed.arms == (await stub.GetExperiment(pb.GetExperimentRequest(name=EXPERIMENT))).arms

    # An end already past stops it now: no new decision is in it, its report stays.
    before = datetime.now(UTC)
    stopped = await update_experiment(stub, ["end_time"], end_time=_at(before - timedelta(days=30)))
    ended = stopped.end_time.ToDatetime(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= ended <= datetime.now(UTC)
    assert await stub.GetExperiment(pb.GetExperimentRequest(name=EXPERIMENT)) == stopped
    assert await arm_of(stub, CUSTOMERS[1]) == ("", "")
    report = await stub.GetExperimentReport(pb.GetExperimentReportRequest(name=EXPERIMENT))
    assert sum(arm.reach for arm in report.arms) == 1

    # Ended: its end moves later (it runs again), never into the past.
    await expect_error(
        update_experiment(stub, ["end_time"], end_time=_at(before - timedelta(days=60))),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    resumed = await update_experiment(stub, ["end_time"])  # cleared: runs until deleted
    assert not resumed.HasField("end_time")
    assert (await arm_of(stub, CUSTOMERS[1]))[0] == EXPERIMENT


async def test_arms_actions_and_start_are_fixed_once_the_experiment_starts(stub):
    await catalogue(stub)
    created = await create_experiment(stub)
    changed_arms = arms(("treated", MODEL, 9), ("control", CONTROL, 1))
    for paths, fields in (
        (["arms"], {"arms": changed_arms}),
        (["actions"], {"actions": [OTHER]}),
        (["start_time"], {"start_time": _at(datetime.now(UTC) + timedelta(days=1))}),
    ):
        info, _ = await expect_error(
            update_experiment(stub, paths, **fields), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert info.reason == "EXPERIMENT_STARTED"
        assert info.metadata["field"] == f"experiment.{paths[0]}"
    assert await stub.GetExperiment(pb.GetExperimentRequest(name=EXPERIMENT)) == created

    # The whole resource sent back with `*` and the same arms: only the name changes.
    whole = pb.Experiment()
    whole.CopyFrom(created)
    whole.display_name = "Same arms"
    updated = await stub.UpdateExperiment(
        pb.UpdateExperimentRequest(
            experiment=whole, update_mask=field_mask_pb2.FieldMask(paths=["*"])
        )
    )
    assert updated.display_name == "Same arms" and updated.arms == created.arms


async def test_an_experiment_not_started_yet_takes_new_arms_and_actions(stub):
    await catalogue(stub)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    await create_experiment(stub, start_time=_at(tomorrow))
    updated = await update_experiment(
        stub,
        ["arms", "actions", "start_time"],
        arms=arms(("a", MODEL, 3), ("b", pb.EXPERIMENT_STRATEGY_RANDOM, 1)),
        actions=[OTHER],
        start_time=_at(tomorrow + timedelta(days=1)),
    )
    assert [a.arm_id for a in updated.arms] == ["a", "b"]
    assert list(updated.actions) == [OTHER]
    assert updated.start_time.ToDatetime(tzinfo=UTC) > tomorrow
    assert await stub.GetExperiment(pb.GetExperimentRequest(name=EXPERIMENT)) == updated

    await expect_error(
        update_experiment(stub, ["actions"], actions=["workspaces/default/actions/missing"]),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        update_experiment(stub, ["arms"], arms=arms(("only", MODEL, 1))),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="experiment.arms",
    )
    await expect_error(
        update_experiment(stub, ["end_time"], end_time=_at(tomorrow)),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="experiment.end_time",
    )
    assert await stub.GetExperiment(pb.GetExperimentRequest(name=EXPERIMENT)) == updated


async def test_update_experiment_refusals(stub):
    await catalogue(stub)
    await create_experiment(stub)
    await expect_error(
        update_experiment(stub, ["arm_count"]),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="update_mask.paths[0]",
    )
    await expect_error(
        stub.UpdateExperiment(
            pb.UpdateExperimentRequest(experiment=pb.Experiment(name="experiments/x"))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="experiment.name",
    )
    await expect_error(
        stub.UpdateExperiment(
            pb.UpdateExperimentRequest(
                experiment=pb.Experiment(
                    name="workspaces/default/experiments/missing", display_name="x"
                )
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        update_experiment(stub, ["display_name"], display_name="x" * 257),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="experiment.display_name",
    )
