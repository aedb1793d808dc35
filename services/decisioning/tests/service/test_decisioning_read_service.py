"""GetDecision, ListDecisions, GetOutcome, ListOutcomes and GetTrigger through the gRPC stub."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import without_contact_limits

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"
BOB = "workspaces/default/customers/bob"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
UNKNOWN_ID = "0" * 32
DOMAIN = "decisioning.rapport.dev"
expect_invalid = functools.partial(
    expect_error, code=grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN
)


class TickingClock:
    """Each reading is one second after the previous one, so every write has its own time."""

    def __init__(self, start: datetime = START, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self._step = step

    def __call__(self) -> datetime:
        now = self.now
        self.now += self._step
        return now


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def action(channels=(channel_pb2.CHANNEL_EMAIL,), **fields) -> pb.Action:
    values = {
        "purpose": "marketing",
        "value": 100.0,
        "content": message_content_pb2.MessageContent(subject="s", text_body="b"),
    }
    values.update(fields)
    return pb.Action(channels=list(channels), **values)


async def expect_not_found(call, resource: str) -> None:
    info, _ = await expect_error(call, grpc.StatusCode.NOT_FOUND, domain=DOMAIN)
    assert info.metadata["resource"] == resource


async def list_all(method, request, field: str) -> tuple[list, int]:
    """Every item over every page, and the number of pages."""
    items, pages = [], 0
    while True:
        page = await method(request)
        pages += 1
        items.extend(getattr(page, field))
        if not page.next_page_token:
            return items, pages
        request.page_token = page.next_page_token


@pytest.fixture
async def clocked(serve, make_settings, fake_services):
    """The service on a ticking clock with two actions, published, without contact limits;
    Alice (40) and Bob (12) allow email."""
    clock = TickingClock()
    fake_services.profile.traits[ALICE] = {"age": 40}
    fake_services.profile.traits[BOB] = {"age": 12}
    for customer in (ALICE, BOB):
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    async with serve(make_settings(), clock=clock) as stub:
        await stub.CreateAction(
            pb.CreateActionRequest(parent=PARENT, action_id="offer", action=action(value=50.0))
        )
        await stub.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT,
                action_id="adults",
                action=action(eligibility="profile.traits.age >= 18"),
            )
        )
        # Decide uses the live version; Alice is offered both email actions.
        await without_contact_limits(stub)
        yield stub, clock


# -- decisions -------------------------------------------------------------------------


async def test_get_decision_returns_what_decide_stored(clocked):
    stub, _ = clocked
    decided = await stub.Decide(
        pb.DecideRequest(parent=PARENT, customer=BOB, channel=channel_pb2.CHANNEL_EMAIL)
    )
    assert [a.action for a in decided.actions] == ["workspaces/default/actions/offer"]
    assert [e.reason for e in decided.excluded_actions] == ["NOT_ELIGIBLE"]

    stored = await stub.GetDecision(pb.GetDecisionRequest(name=decided.decision))
    assert stored.name == decided.decision
    assert stored.customer == BOB
    assert list(stored.actions) == list(decided.actions)
    assert stored.actions[0].explanation.startswith("Ranked 1 on email")
    assert list(stored.excluded_actions) == list(decided.excluded_actions)
    assert stored.channel == channel_pb2.CHANNEL_EMAIL
    assert stored.source == ""
    assert stored.create_time.ToDatetime(tzinfo=UTC) > START

    # Any channel asked for: unspecified.
    anywhere = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
    stored = await stub.GetDecision(pb.GetDecisionRequest(name=anywhere.decision))
    assert stored.channel == channel_pb2.CHANNEL_UNSPECIFIED
    assert [a.action for a in stored.actions] == [a.action for a in anywhere.actions]
    assert len(stored.actions) == 2 and list(stored.excluded_actions) == []


async def test_get_decision_errors(stub):
    unknown = f"workspaces/default/decisions/{UNKNOWN_ID}"
    await expect_not_found(stub.GetDecision(pb.GetDecisionRequest(name=unknown)), unknown)
    await expect_invalid(stub.GetDecision(pb.GetDecisionRequest(name=UNKNOWN_ID)), field="name")
    await expect_invalid(
        stub.GetDecision(pb.GetDecisionRequest(name="workspaces/default/outcomes/x")), field="name"
    )
    await expect_invalid(stub.GetDecision(pb.GetDecisionRequest()), field="name")
    await expect_not_found(
        stub.GetDecision(pb.GetDecisionRequest(name=f"workspaces/other/decisions/{UNKNOWN_ID}")),
        "workspaces/other",
    )


async def test_list_decisions_newest_first_across_pages(clocked):
    stub, _ = clocked
    made = []
    for customer in (ALICE, BOB, ALICE, BOB, ALICE):
        made.append(
            (await stub.Decide(pb.DecideRequest(parent=PARENT, customer=customer))).decision
        )

    listed, pages = await list_all(
        stub.ListDecisions, pb.ListDecisionsRequest(parent=PARENT, page_size=2), "decisions"
    )
    assert [d.name for d in listed] == list(reversed(made))
    assert pages == 3
    times = [d.create_time.ToDatetime() for d in listed]
    assert times == sorted(times, reverse=True)

    alices, pages = await list_all(
        stub.ListDecisions,
        pb.ListDecisionsRequest(parent=PARENT, page_size=2, customer=ALICE),
        "decisions",
    )
    assert [d.name for d in alices] == [made[4], made[2], made[0]]
    assert {d.customer for d in alices} == {ALICE}
    assert pages == 2

    everyone = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT))
    assert len(everyone.decisions) == 5 and everyone.next_page_token == ""
    nobody = await stub.ListDecisions(
        pb.ListDecisionsRequest(parent=PARENT, customer="workspaces/default/customers/carol")
    )
    assert list(nobody.decisions) == []

    # A token is bound to its filter.
    first = await stub.ListDecisions(
        pb.ListDecisionsRequest(parent=PARENT, page_size=1, customer=ALICE)
    )
    await expect_invalid(
        stub.ListDecisions(
            pb.ListDecisionsRequest(parent=PARENT, page_size=1, page_token=first.next_page_token)
        ),
        field="page_token",
    )


async def test_list_decisions_with_equal_times_pages_by_name(serve, make_settings, fake_services):
    fake_services.profile.traits[ALICE] = {}  # a known customer (an unknown one is NOT_FOUND)
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    async with serve(make_settings(), clock=lambda: START) as stub:
        made = [
            (await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))).decision
            for _ in range(7)
        ]
        listed, pages = await list_all(
            stub.ListDecisions, pb.ListDecisionsRequest(parent=PARENT, page_size=3), "decisions"
        )
    assert [d.name for d in listed] == sorted(made, reverse=True)
    assert pages == 3


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"parent": ""}, "parent"),
        ({"parent": "default"}, "parent"),
        ({"customer": "alice"}, "customer"),
        ({"customer": "workspaces/default/actions/alice"}, "customer"),
        ({"customer": "workspaces/other/customers/alice"}, "customer"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "garbage!"}, "page_token"),
    ],
)
async def test_list_decisions_bad_input(stub, fields, field):
    values = {"parent": PARENT}
    values.update(fields)
    await expect_invalid(stub.ListDecisions(pb.ListDecisionsRequest(**values)), field=field)


async def test_list_decisions_of_an_unknown_workspace(stub):
    await expect_not_found(
        stub.ListDecisions(pb.ListDecisionsRequest(parent="workspaces/other")),
        "workspaces/other",
    )


# -- outcomes --------------------------------------------------------------------------


async def record(stub, *, decision: str = "", customer: str = ALICE, **fields) -> pb.Outcome:
    values = {"type": pb.OUTCOME_TYPE_IMPRESSION, **fields}
    outcome = pb.Outcome(
        decision=decision, customer=customer, action="workspaces/default/actions/offer", **values
    )
    return await stub.RecordOutcome(pb.RecordOutcomeRequest(parent=PARENT, outcome=outcome))


async def test_get_outcome_returns_what_was_recorded(clocked):
    stub, _ = clocked
    decided = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
    when = START - timedelta(hours=1)
    recorded = await record(
        stub,
        decision=decided.decision,
        channel=channel_pb2.CHANNEL_INBOUND,
        outcome_time=ts(when),
    )
    fetched = await stub.GetOutcome(pb.GetOutcomeRequest(name=recorded.name))
    assert fetched == recorded
    assert fetched.decision == decided.decision
    assert fetched.channel == channel_pb2.CHANNEL_INBOUND
    assert fetched.outcome_time.ToDatetime(tzinfo=UTC) == when

    plain = await record(stub)
    fetched = await stub.GetOutcome(pb.GetOutcomeRequest(name=plain.name))
    assert fetched.decision == "" and fetched.channel == channel_pb2.CHANNEL_UNSPECIFIED


async def test_get_outcome_errors(stub):
    unknown = f"workspaces/default/outcomes/{UNKNOWN_ID}"
    await expect_not_found(stub.GetOutcome(pb.GetOutcomeRequest(name=unknown)), unknown)
    await expect_invalid(stub.GetOutcome(pb.GetOutcomeRequest(name="outcomes/x")), field="name")
    await expect_invalid(
        stub.GetOutcome(pb.GetOutcomeRequest(name="workspaces/default/decisions/x")), field="name"
    )
    await expect_not_found(
        stub.GetOutcome(pb.GetOutcomeRequest(name="workspaces/other/outcomes/x")),
        "workspaces/other",
    )


async def test_list_outcomes_newest_first_across_pages_and_by_decision(clocked):
    stub, _ = clocked
    first = (await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))).decision
    second = (await stub.Decide(pb.DecideRequest(parent=PARENT, customer=BOB))).decision
    recorded = [
        (await record(stub, decision=first)).name,
        (await record(stub, decision=second, customer=BOB)).name,
        (await record(stub)).name,
        (await record(stub, type=pb.OUTCOME_TYPE_CLICK)).name,
        (await record(stub, decision=first)).name,
    ]

    listed, pages = await list_all(
        stub.ListOutcomes, pb.ListOutcomesRequest(parent=PARENT, page_size=2), "outcomes"
    )
    assert [o.name for o in listed] == list(reversed(recorded))
    assert pages == 3

    of_first, pages = await list_all(
        stub.ListOutcomes,
        pb.ListOutcomesRequest(parent=PARENT, page_size=1, decision=first),
        "outcomes",
    )
    assert [o.name for o in of_first] == [recorded[4], recorded[0]]
    assert {o.decision for o in of_first} == {first}
    assert pages == 2

    unknown = await stub.ListOutcomes(
        pb.ListOutcomesRequest(parent=PARENT, decision=f"workspaces/default/decisions/{UNKNOWN_ID}")
    )
    assert list(unknown.outcomes) == []

    # A token is bound to its filter.
    page = await stub.ListOutcomes(pb.ListOutcomesRequest(parent=PARENT, page_size=1))
    await expect_invalid(
        stub.ListOutcomes(
            pb.ListOutcomesRequest(
                parent=PARENT, page_size=1, decision=second, page_token=page.next_page_token
            )
        ),
        field="page_token",
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"parent": ""}, "parent"),
        ({"decision": UNKNOWN_ID}, "decision"),
        ({"decision": f"workspaces/other/decisions/{UNKNOWN_ID}"}, "decision"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "garbage!"}, "page_token"),
    ],
)
async def test_list_outcomes_bad_input(stub, fields, field):
    values = {"parent": PARENT}
    values.update(fields)
    await expect_invalid(stub.ListOutcomes(pb.ListOutcomesRequest(**values)), field=field)


async def test_list_outcomes_of_an_unknown_workspace(stub):
    await expect_not_found(
        stub.ListOutcomes(pb.ListOutcomesRequest(parent="workspaces/other")), "workspaces/other"
    )


# -- triggers --------------------------------------------------------------------------


async def test_get_trigger(clocked):
    stub, _ = clocked
    created = await stub.CreateTrigger(
        pb.CreateTriggerRequest(
            parent=PARENT,
            trigger_id="welcome",
            trigger=pb.Trigger(
                event_name="Signed Up",
                condition="event.properties.plan == 'gold'",
                action="workspaces/default/actions/offer",
                channel=channel_pb2.CHANNEL_EMAIL,
            ),
        )
    )
    fetched = await stub.GetTrigger(pb.GetTriggerRequest(name=created.name))
    assert fetched == created
    assert fetched.name == "workspaces/default/triggers/welcome"
    assert fetched.action == "workspaces/default/actions/offer"
    assert fetched.condition == "event.properties.plan == 'gold'"


async def test_get_trigger_errors(stub):
    unknown = "workspaces/default/triggers/nope"
    await expect_not_found(stub.GetTrigger(pb.GetTriggerRequest(name=unknown)), unknown)
    await expect_invalid(stub.GetTrigger(pb.GetTriggerRequest(name="triggers/nope")), field="name")
    await expect_invalid(
        stub.GetTrigger(pb.GetTriggerRequest(name="workspaces/default/actions/nope")), field="name"
    )
    await expect_not_found(
        stub.GetTrigger(pb.GetTriggerRequest(name="workspaces/other/triggers/nope")),
        "workspaces/other",
    )
