"""GetExperimentReport by intent to treat: a treated customer whose experiment action lost
arbitration (outranked, or left out by a contact limit) still counts in the arm and its
conversions with it, as a control customer does; each customer once per arm. Through the
real gRPC server, conversions attributed from profile's signals (triggers on)."""

from __future__ import annotations

import pytest
from google.protobuf import duration_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually
from rapport.profile.v1 import profile_service_pb2
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import without_contact_limits

PARENT = "workspaces/default"
RENEWAL = "workspaces/default/actions/renewal"
CROSS_SELL = "workspaces/default/actions/cross-sell"
EXPERIMENT = "workspaces/default/experiments/renewal-test"
CUSTOMERS = [f"workspaces/default/customers/c{i:03d}" for i in range(40)]
EMAIL = channel_pb2.CHANNEL_EMAIL


@pytest.fixture(autouse=True)
def customers(fake_services):
    for customer in CUSTOMERS:
        fake_services.profile.traits[customer] = {}
        fake_services.consent.grant(customer, "marketing", EMAIL)


async def _setup(stub, *, contact_limits: bool) -> None:
    """Renewal (value 10) always loses to cross-sell (value 200); the experiment is about
    renewal, MODEL and CONTROL 1:1; renewing within 30 days is its conversion."""
    content = message_content_pb2.MessageContent(subject="s", text_body="b")
    for action_id, value in (("renewal", 10.0), ("cross-sell", 200.0)):
        await stub.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT,
                action_id=action_id,
                action=pb.Action(
                    channels=[EMAIL], purpose="marketing", value=value, content=content
                ),
            )
        )
    if not contact_limits:
        await without_contact_limits(stub)
    else:
        await stub.PublishDecisionConfig(pb.PublishDecisionConfigRequest(parent=PARENT))
    arms = [
        pb.ExperimentArm(arm_id="treated", strategy=pb.EXPERIMENT_STRATEGY_MODEL, weight=1),
        pb.ExperimentArm(arm_id="control", strategy=pb.EXPERIMENT_STRATEGY_CONTROL, weight=1),
    ]
    await stub.CreateExperiment(
        pb.CreateExperimentRequest(
            parent=PARENT,
            experiment_id="renewal-test",
            experiment=pb.Experiment(actions=[RENEWAL], arms=arms),
        )
    )
    await stub.CreateConversionRule(
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


async def _conversions(stub) -> list[pb.Outcome]:
    page = await stub.ListOutcomes(pb.ListOutcomesRequest(parent=PARENT, page_size=1000))
    return [o for o in page.outcomes if o.type == pb.OUTCOME_TYPE_CONVERSION]


async def _attributed(settings, stored_cursor, last: profile_service_pb2.Signal) -> None:
    """Wait until the trigger runner has handled every signal up to `last`."""

    async def handled() -> bool:
        return await stored_cursor(settings) == last.cursor

    await eventually(handled)


@pytest.mark.parametrize(
    ("max_actions", "contact_limits", "left_out"),
    [
        # Renewal ranks below cross-sell: outranked.
        (1, False, "OUTRANKED"),
        # Room for both, but the default limit allows one marketing email a week.
        (3, True, "CONTACT_LIMIT"),
    ],
)
async def test_treated_customers_who_never_saw_the_action_count_like_control(
    serve, make_settings, fake_services, stored_cursor, max_actions, contact_limits, left_out
):
    settings = make_settings(triggers_enabled=True)
    async with serve(settings) as stub:
        await _setup(stub, contact_limits=contact_limits)
        arm_of: dict[str, str] = {}
        for customer in CUSTOMERS:
            decided = await stub.Decide(
                pb.DecideRequest(parent=PARENT, customer=customer, max_actions=max_actions)
            )
            decision = await stub.GetDecision(pb.GetDecisionRequest(name=decided.decision))
            arm_of[customer] = decision.experiment_arm
            assert [a.action for a in decided.actions] == [CROSS_SELL]
            [renewal] = [e for e in decided.excluded_actions if e.action == RENEWAL]
            assert renewal.reason == ("CONTROL_GROUP" if decision.control else left_out)
        treated = [c for c, arm in arm_of.items() if arm == "treated"]
        control = [c for c, arm in arm_of.items() if arm == "control"]
        assert treated and control

        # Every customer renews: the truth is no uplift at all.
        for customer in CUSTOMERS:
            last = await fake_services.emit_event(
                customer, "Policy Renewed", properties={"value": 7}
            )
        await _attributed(settings, stored_cursor, last)
        report = await stub.GetExperimentReport(pb.GetExperimentReportRequest(name=EXPERIMENT))
        by_arm = {a.arm_id: a for a in report.arms}
        for arm, members in (("treated", treated), ("control", control)):
            assert by_arm[arm].reach == len(members)
            assert by_arm[arm].conversions == len(members)
            assert by_arm[arm].conversion_rate.estimate == 1.0
            assert by_arm[arm].conversion_value == 7.0 * len(members)
            # Nobody was shown renewal: the secondary figures say so.
            assert by_arm[arm].exposed_reach == 0
            assert by_arm[arm].exposed_conversions == 0
        assert by_arm["treated"].uplift.estimate == 0.0
        assert len(await _conversions(stub)) == len(CUSTOMERS)
        assert by_arm["treated"].uplift.lower < 0.0 < by_arm["treated"].uplift.upper


async def test_each_customer_counts_once_per_arm_and_exposure_is_secondary(
    serve, make_settings, fake_services, stored_cursor
):
    settings = make_settings(triggers_enabled=True)
    async with serve(settings) as stub:
        await _setup(stub, contact_limits=False)
        arm_of: dict[str, str] = {}
        shown: set[str] = set()
        # Two decisions each: one where renewal loses, one with room for it.
        for customer in CUSTOMERS:
            for max_actions in (1, 2):
                decided = await stub.Decide(
                    pb.DecideRequest(parent=PARENT, customer=customer, max_actions=max_actions)
                )
                if RENEWAL in {a.action for a in decided.actions}:
                    shown.add(customer)
            decision = await stub.GetDecision(pb.GetDecisionRequest(name=decided.decision))
            arm_of[customer] = decision.experiment_arm
        treated = {c for c, arm in arm_of.items() if arm == "treated"}
        control = {c for c, arm in arm_of.items() if arm == "control"}
        assert shown == treated

        # Every customer renews twice (two events), half of the treated not at all.
        not_renewing = set(sorted(treated)[: len(treated) // 2])
        renewing = [c for c in CUSTOMERS if c not in not_renewing]
        for _ in range(2):
            for customer in renewing:
                last = await fake_services.emit_event(customer, "Policy Renewed")
        await _attributed(settings, stored_cursor, last)
        assert len(await _conversions(stub)) == 2 * len(renewing)
        report = await stub.GetExperimentReport(pb.GetExperimentReportRequest(name=EXPERIMENT))
        by_arm = {a.arm_id: a for a in report.arms}
        assert by_arm["treated"].reach == len(treated)
        assert by_arm["treated"].decisions == 2 * len(treated)
        assert by_arm["treated"].conversions == len(treated) - len(not_renewing)
        assert by_arm["treated"].exposed_reach == len(treated)
        assert by_arm["treated"].exposed_conversions == len(treated) - len(not_renewing)
        assert by_arm["control"].reach == len(control)
        assert by_arm["control"].conversions == len(control)
        assert by_arm["control"].exposed_reach == 0
        assert by_arm["control"].exposed_conversions == 0
