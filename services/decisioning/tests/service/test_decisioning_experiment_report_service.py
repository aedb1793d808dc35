"""GetExperimentReport counts the outcomes of the experiment's actions only, through the
real gRPC server against the fake profile, consent and delivery."""

from __future__ import annotations

import pytest
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import without_contact_limits

PARENT = "workspaces/default"
RENEWAL = "workspaces/default/actions/renewal"
CROSS_SELL = "workspaces/default/actions/cross-sell"
EXPERIMENT = "workspaces/default/experiments/renewal-test"
CUSTOMERS = [f"workspaces/default/customers/c{i:03d}" for i in range(30)]
EMAIL = channel_pb2.CHANNEL_EMAIL
CONVERSION = pb.OUTCOME_TYPE_CONVERSION


@pytest.fixture(autouse=True)
def customers(fake_services):
    for customer in CUSTOMERS:
        fake_services.profile.traits[customer] = {}
        fake_services.consent.grant(customer, "marketing", EMAIL)


async def test_report_leaves_out_outcomes_of_actions_outside_the_experiment(stub):
    content = message_content_pb2.MessageContent(subject="s", text_body="b")
    for action_id, value in (("renewal", 200.0), ("cross-sell", 10.0)):
        await stub.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT,
                action_id=action_id,
                action=pb.Action(
                    channels=[EMAIL], purpose="marketing", value=value, content=content
                ),
            )
        )
    await without_contact_limits(stub)
    await stub.CreateExperiment(
        pb.CreateExperimentRequest(
            parent=PARENT,
            experiment_id="renewal-test",
            experiment=pb.Experiment(
                actions=[RENEWAL],
                arms=[
                    pb.ExperimentArm(
                        arm_id="treated", strategy=pb.EXPERIMENT_STRATEGY_MODEL, weight=1
                    ),
                    pb.ExperimentArm(
                        arm_id="control", strategy=pb.EXPERIMENT_STRATEGY_CONTROL, weight=1
                    ),
                ],
            ),
        )
    )
    treated: list[tuple[str, str]] = []
    for customer in CUSTOMERS:
        decided = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=customer))
        chosen = {a.action for a in decided.actions}
        if RENEWAL in chosen:
            # The treated arm also returns the cross-sell, outside the experiment.
            assert CROSS_SELL in chosen
            treated.append((customer, decided.decision))
    assert len(treated) >= 3

    async def convert(customer: str, decision: str, action: str, value: float) -> None:
        outcome = pb.Outcome(
            decision=decision, customer=customer, action=action, type=CONVERSION, value=value
        )
        await stub.RecordOutcome(pb.RecordOutcomeRequest(parent=PARENT, outcome=outcome))

    # Three customers buy the cross-sell, one of them renews too.
    for customer, decision in treated[:3]:
        await convert(customer, decision, CROSS_SELL, 5.0)
    await convert(*treated[0], RENEWAL, 300.0)

    report = await stub.GetExperimentReport(pb.GetExperimentReportRequest(name=EXPERIMENT))
    arm = next(a for a in report.arms if a.arm_id == "treated")
    assert arm.conversions == 1
    assert arm.conversion_value == 300.0
    assert [(o.type, o.customers, o.count) for o in arm.outcomes] == [(CONVERSION, 1, 1)]
    assert arm.conversion_rate.estimate == pytest.approx(1 / arm.reach)
    control = next(a for a in report.arms if a.arm_id == "control")
    assert control.conversions == 0
    assert control.conversion_rate.lower == 0.0
