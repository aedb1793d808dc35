"""The core scenario on PostgreSQL: catalogue, action CRUD, Decide, outcomes, triggers."""

from __future__ import annotations

import inspect

import grpc
import pytest
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually, expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import forget_erasures, publish

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"

# Alice gets several email actions and reminders: the default contact limits are off.
CATALOGUE = """
settings:
  contact_limits: []
actions:
  - id: renewal-reminder
    channels: [email]
    purpose: marketing
    value: 120.0
    content: {subject: "Renew", text_body: "Renew now"}
triggers:
  - id: renewal-due
    event_name: Policy Renewal Due
    action: renewal-reminder
    channel: email
"""


@pytest.fixture
def pg_settings(tmp_path, make_settings, postgres_url, pg_schema):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    return make_settings(
        database_url=postgres_url,
        database_schema=pg_schema,
        catalogue_file=path,
        triggers_enabled=True,
    )


async def test_core_scenario_on_postgres(serve, pg_settings, fake_services, stored_cursor):
    fake_services.profile.traits[ALICE] = {"age": 30}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    async with serve(pg_settings) as stub:
        for action_id, value in [("gold-offer", 500.0), ("adults-only", 50.0)]:
            await stub.CreateAction(
                pb.CreateActionRequest(
                    parent=PARENT,
                    action_id=action_id,
                    action=pb.Action(
                        channels=[channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_INBOUND],
                        purpose="marketing",
                        value=value,
                        eligibility="profile.traits.age >= 18",
                        content=message_content_pb2.MessageContent(subject="s", text_body="b"),
                    ),
                )
            )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateAction(
                pb.CreateActionRequest(
                    parent=PARENT,
                    action_id="gold-offer",
                    action=pb.Action(channels=[channel_pb2.CHANNEL_INBOUND], purpose="x", value=1),
                )
            )
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS

        first = await stub.ListActions(pb.ListActionsRequest(parent=PARENT, page_size=2))
        rest = await stub.ListActions(
            pb.ListActionsRequest(parent=PARENT, page_size=2, page_token=first.next_page_token)
        )
        names = [a.name.rsplit("/", 1)[1] for a in [*first.actions, *rest.actions]]
        assert names == ["adults-only", "gold-offer", "renewal-reminder"]
        fetched = await stub.GetAction(
            pb.GetActionRequest(name="workspaces/default/actions/gold-offer")
        )
        assert fetched.create_time.seconds > 0 and fetched.value == 500.0

        await publish(stub)  # Decide uses the live version
        decision = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
        assert [a.action.rsplit("/", 1)[1] for a in decision.actions] == [
            "gold-offer",
            "renewal-reminder",
            "adults-only",
        ]
        outcome = await stub.RecordOutcome(
            pb.RecordOutcomeRequest(
                parent=PARENT,
                outcome=pb.Outcome(
                    decision=decision.decision,
                    customer=ALICE,
                    action=decision.actions[0].action,
                    type=pb.OUTCOME_TYPE_ACCEPT,
                ),
            )
        )
        assert outcome.name.startswith("workspaces/default/outcomes/")

        await stub.DeleteAction(
            pb.DeleteActionRequest(name="workspaces/default/actions/gold-offer")
        )
        await publish(stub)
        second = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
        assert len(second.actions) == 2

        # Stored decisions and outcomes read back, newest first, page by page.
        stored = await stub.GetDecision(pb.GetDecisionRequest(name=decision.decision))
        assert list(stored.actions) == list(decision.actions) and stored.customer == ALICE
        page = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT, page_size=1))
        rest = await stub.ListDecisions(
            pb.ListDecisionsRequest(parent=PARENT, page_size=1, page_token=page.next_page_token)
        )
        assert [d.name for d in [*page.decisions, *rest.decisions]] == [
            second.decision,
            decision.decision,
        ]
        assert rest.next_page_token == ""
        of_decision = await stub.ListOutcomes(
            pb.ListOutcomesRequest(parent=PARENT, decision=decision.decision)
        )
        assert [o.name for o in of_decision.outcomes] == [outcome.name]
        assert await stub.GetOutcome(pb.GetOutcomeRequest(name=outcome.name)) == outcome
        trigger = await stub.GetTrigger(
            pb.GetTriggerRequest(name="workspaces/default/triggers/renewal-due")
        )
        assert trigger.action == "workspaces/default/actions/renewal-reminder"

        # The trigger from the catalogue fires and the cursor is stored in PostgreSQL.
        await fake_services.emit_event(ALICE, "Policy Renewal Due", message_id="e1")
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
        await fake_services.emit_event(ALICE, "Policy Renewal Due", message_id="e2")
        await eventually(lambda: len(fake_services.delivery.accepted) == 2)

        async def reached() -> bool:
            return await stored_cursor(pg_settings) == "c000002"

        await eventually(reached)
        assert await stored_cursor(pg_settings) == "c000002"

    # Restart on the same schema: the catalogue reloads idempotently, the cursor resumes.
    async with serve(pg_settings) as stub:
        listed = await stub.ListActions(pb.ListActionsRequest(parent=PARENT))
        assert len(listed.actions) == 2
        await eventually(lambda: len(fake_services.profile.watch_requests) == 2)
        assert fake_services.profile.watch_requests[1].start_cursor == "c000002"
    assert fake_services.delivery.keys == ["trigger:renewal-due:e1", "trigger:renewal-due:e2"]


def inbound(action_id: str, **fields) -> pb.CreateActionRequest:
    action = pb.Action(channels=[channel_pb2.CHANNEL_INBOUND], purpose="service", **fields)
    return pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=action)


async def test_extreme_but_valid_values_are_stored_and_odd_ones_refused(
    serve, pg_settings, fake_services
):
    fake_services.profile.traits[ALICE] = {}  # a known customer (an unknown one is NOT_FOUND)
    async with serve(pg_settings) as stub:
        # The largest value and lever: the priority stays finite, so the decision is stored.
        await stub.CreateAction(inbound("huge", value=1e12, lever=1e12))
        await publish(stub)
        decision = await stub.Decide(
            pb.DecideRequest(parent=PARENT, customer=ALICE, channel=channel_pb2.CHANNEL_INBOUND)
        )
        assert decision.actions[0].priority == 0.5e24
        stored = await stub.GetDecision(pb.GetDecisionRequest(name=decision.decision))
        assert stored.actions[0].priority == 0.5e24
        # NUL, which PostgreSQL text cannot hold, is refused before any write.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateAction(inbound("nul", value=1.0, display_name="a\x00b"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_experiments_conversions_and_erasure_on_postgres(
    serve, make_settings, fake_services, postgres_url, pg_schema
):
    """The experiment report's queries, attribution and erasure on PostgreSQL."""
    from ..service import test_decisioning_experiments_service as scenarios

    for customer in scenarios.CUSTOMERS:
        fake_services.profile.traits[customer] = {}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)

    def on_postgres(**overrides):
        return make_settings(database_url=postgres_url, database_schema=pg_schema, **overrides)

    await scenarios.test_conversions_are_attributed_for_treated_and_control_and_reported(
        serve, on_postgres, fake_services
    )
    async with serve(on_postgres()) as stub:
        await stub.EraseCustomerDecisions(
            pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=scenarios.CUSTOMERS[0])
        )
        left = await stub.ExportCustomerDecisions(
            pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=scenarios.CUSTOMERS[0])
        )
        assert (list(left.decisions), list(left.outcomes)) == ([], [])
        other = await stub.ExportCustomerDecisions(
            pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=scenarios.CUSTOMERS[1])
        )
        assert len(other.decisions) == 1


async def test_trigger_schedule_and_throttle_on_postgres(
    serve, make_settings, fake_services, postgres_url, pg_schema, tmp_path
):
    """Time windows (the persisted schedule, across a restart) and throttles on PostgreSQL."""
    from ..service import test_decisioning_trigger_kinds_service as kinds

    path = tmp_path / "kinds.yaml"
    path.write_text(kinds.CATALOGUE)
    fake_services.profile.segments.add(kinds.VIP)  # the catalogue's segment triggers name it
    for customer in (kinds.ALICE, kinds.BOB):
        fake_services.profile.traits[customer] = {}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    settings = make_settings(
        database_url=postgres_url,
        database_schema=pg_schema,
        catalogue_file=path,
        triggers_enabled=True,
        trigger_schedule_poll_seconds=0.05,
    )
    await kinds.test_time_window_is_scheduled_fired_once_and_survives_a_restart(
        serve, settings, fake_services, kinds.Clock(kinds.START)
    )
    fake_services.delivery.accepted.clear()
    await forget_erasures(settings)  # Bob, erased by the scenario before, decides again
    await kinds.test_throttle_sends_at_most_once_per_period(
        serve, settings, fake_services, kinds.Clock(kinds.START)
    )


async def test_erasure_forgets_the_customers_contacts_in_redis(
    serve, make_settings, fake_services, redis_url
):
    """With contacts in Redis, erasure deletes them too: the contact limit counts afresh."""
    import uuid

    customer = "workspaces/default/customers/erased"
    fake_services.profile.traits[customer] = {}
    fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    settings = make_settings(redis_url=redis_url, redis_key_prefix=f"t{uuid.uuid4().hex[:8]}:")
    async with serve(settings) as stub:
        await stub.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT,
                action_id="offer",
                action=pb.Action(
                    channels=[channel_pb2.CHANNEL_EMAIL],
                    purpose="marketing",
                    value=1.0,
                    content=message_content_pb2.MessageContent(subject="s", text_body="b"),
                ),
            )
        )
        await publish(stub)  # the default limit: 1 marketing email a week

        async def chosen() -> list[str]:
            response = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=customer))
            return [a.action for a in response.actions]

        assert await chosen() == [f"{PARENT}/actions/offer"]
        assert await chosen() == []  # the week's email was used
        erased = await stub.EraseCustomerDecisions(
            pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=customer)
        )
        assert erased.contact_count == 1
        assert erased.decision_count == 2
        # Erased: a Decide now is refused, and what it reserved in Redis is forgotten.
        await expect_error(chosen(), grpc.StatusCode.NOT_FOUND)
        again = await stub.EraseCustomerDecisions(
            pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=customer)
        )
        assert (again.contact_count, again.decision_count) == (0, 0)


@pytest.mark.parametrize(
    "scenario",
    [
        "test_a_restart_with_the_same_file_publishes_nothing_and_keeps_the_draft",
        "test_a_changed_file_publishes_live_and_file_and_keeps_the_draft_edits",
        "test_a_published_api_edit_of_an_item_the_file_does_not_name_survives",
        "test_replicas_starting_together_apply_a_changed_file_once",
        "test_a_draft_that_cannot_take_the_changed_file_is_kept_and_said",
    ],
)
async def test_catalogue_file_restarts_on_postgres(
    scenario, serve, make_settings, postgres_url, pg_schema, tmp_path, monkeypatch, caplog
):
    """Restarts with the same or a changed catalogue file (and two replicas starting
    together) on PostgreSQL: the remembered digest and the draft's advisory lock."""
    from ..service import test_decisioning_catalogue_service as files

    path = tmp_path / "catalogue-file.yaml"
    path.write_text(files.CATALOGUE)
    settings = make_settings(
        database_url=postgres_url, database_schema=pg_schema, catalogue_file=path
    )
    test = getattr(files, scenario)
    fixtures = {"monkeypatch": monkeypatch, "caplog": caplog}
    wanted = list(inspect.signature(test).parameters)[2:]  # after serve and the settings
    await test(serve, settings, *(fixtures[name] for name in wanted))
