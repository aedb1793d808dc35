"""Trigger activities through the real server: what each trigger did for each customer
(sent, skipped, failed, and why), listed, filtered, paged, exported, erased and pruned."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from rapport.decisioning.adapters.trigger_activity_repository import TriggerActivityRepository
from rapport.decisioning.service_layer import trigger_activities
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually, expect_error
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.type.v1 import channel_pb2

PARENT = "workspaces/default"
ALL = "workspaces/default/triggers/-"
RENEWAL = "workspaces/default/triggers/renewal-due"
VISIT = "workspaces/default/triggers/weekly-visit"
WINDOW = "workspaces/default/triggers/renewal-30"
ALICE = "workspaces/default/customers/alice"
BOB = "workspaces/default/customers/bob"
CAROL = "workspaces/default/customers/carol"  # no profile
DAVE = "workspaces/default/customers/dave"
EVE = "workspaces/default/customers/eve"
EVENT = "Policy Renewal Due"
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

SENT = pb.TRIGGER_ACTIVITY_OUTCOME_SENT
SKIPPED = pb.TRIGGER_ACTIVITY_OUTCOME_SKIPPED
FAILED = pb.TRIGGER_ACTIVITY_OUTCOME_FAILED

# One marketing email a week per customer: a second reminder is left out (CONTACT_LIMIT).
CATALOGUE = """
settings:
  contact_limits:
    - {channels: [email], purposes: [marketing], max_contacts: 1, period: 7d}
actions:
  - id: reminder
    channels: [email]
    purpose: marketing
    value: 100.0
    content: {subject: "Hello", text_body: "Hello"}
triggers:
  - id: renewal-due
    event_name: Policy Renewal Due
    condition: 'event.properties.days_left <= 30'
    action: reminder
    channel: email
  - id: weekly-visit
    event_name: Site Visited
    throttle: 7d
    action: reminder
    channel: email
  - id: renewal-30
    kind: time_window
    date_trait: policy_renewal_date
    offset_days: -30
    action: reminder
    channel: email
"""

_cursors = itertools.count(1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def settings(tmp_path, make_settings, fake_services):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    for customer in (ALICE, BOB, DAVE, EVE):
        fake_services.profile.traits[customer] = {}
    for customer in (ALICE, DAVE, EVE):  # Bob gave no consent
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    return make_settings(
        catalogue_file=path, triggers_enabled=True, trigger_schedule_poll_seconds=0.05
    )


async def _list(stub, parent: str = ALL, page_token: str = "", **filters) -> list:
    """Every page of the listing (from `page_token`)."""
    found: list[pb.TriggerActivity] = []
    token = page_token
    while True:
        page = await stub.ListTriggerActivities(
            pb.ListTriggerActivitiesRequest(parent=parent, page_token=token, **filters)
        )
        found.extend(page.trigger_activities)
        token = page.next_page_token
        if not token:
            return found


async def _settled(stub, count: int) -> list[pb.TriggerActivity]:
    async def listed() -> list[pb.TriggerActivity] | None:
        found = await _list(stub)
        return found if len(found) >= count else None

    return await eventually(listed)


def _summary(activity: pb.TriggerActivity) -> tuple:
    trigger = activity.name.split("/activities/")[0]
    return (
        trigger,
        activity.customer,
        activity.event_message_id,
        pb.TriggerActivityOutcome.Name(activity.outcome),
        activity.reason,
        bool(activity.decision),
        bool(activity.message),
    )


async def _run_scenario(fake_services, clock: Clock, settings, stored_cursor) -> None:
    """Each kind of outcome once, a minute apart (newest last), replays included."""
    emit = fake_services.emit_event
    delivery = fake_services.delivery

    async def step(customer: str, name: str, message_id: str, **properties) -> None:
        clock.now += timedelta(minutes=1)
        signal = await emit(customer, name, message_id=message_id, properties=properties)

        # Handled (its cursor stored) before the clock moves on for the next one.
        async def handled() -> bool:
            return await stored_cursor(settings) == signal.cursor

        await eventually(handled)

    delivery.fail_with = [grpc.StatusCode.INVALID_ARGUMENT]  # Eve's send is refused
    await step(EVE, EVENT, "e0", days_left=1)
    await step(ALICE, EVENT, "e1", days_left=10)  # sent
    await step(ALICE, EVENT, "e2", days_left=5)  # the week's one email went: CONTACT_LIMIT
    await step(ALICE, EVENT, "e3")  # no days_left: the condition fails, RULE_ERROR
    await step(ALICE, EVENT, "e4", days_left=60)  # condition false: no activity
    await step(BOB, EVENT, "e5", days_left=1)  # no consent: NO_CONSENT
    await step(CAROL, EVENT, "e6", days_left=1)  # no profile: PROFILE_NOT_FOUND
    await step(DAVE, "Site Visited", "v1")  # sent
    await step(DAVE, "Site Visited", "v2")  # within the throttle: THROTTLED
    # Replays of a sent, a skipped and a failed signal: the activities stay as they were.
    await step(ALICE, EVENT, "e1", days_left=10)
    await step(BOB, EVENT, "e5", days_left=1)
    await step(ALICE, EVENT, "e3")
    assert delivery.keys == [
        "trigger:renewal-due:e1",
        "trigger:weekly-visit:v1",
        "trigger:renewal-due:e1",  # the replay: delivery deduplicates it
    ]


EXPECTED = [  # newest first
    (VISIT, DAVE, "v2", "TRIGGER_ACTIVITY_OUTCOME_SKIPPED", "THROTTLED", False, False),
    (VISIT, DAVE, "v1", "TRIGGER_ACTIVITY_OUTCOME_SENT", "", True, True),
    (RENEWAL, CAROL, "e6", "TRIGGER_ACTIVITY_OUTCOME_SKIPPED", "PROFILE_NOT_FOUND", False, False),
    (RENEWAL, BOB, "e5", "TRIGGER_ACTIVITY_OUTCOME_SKIPPED", "NO_CONSENT", True, False),
    (RENEWAL, ALICE, "e3", "TRIGGER_ACTIVITY_OUTCOME_FAILED", "RULE_ERROR", False, False),
    (RENEWAL, ALICE, "e2", "TRIGGER_ACTIVITY_OUTCOME_SKIPPED", "CONTACT_LIMIT", True, False),
    (RENEWAL, ALICE, "e1", "TRIGGER_ACTIVITY_OUTCOME_SENT", "", True, True),
    (
        RENEWAL,
        EVE,
        "e0",
        "TRIGGER_ACTIVITY_OUTCOME_FAILED",
        "delivery:INVALID_ARGUMENT",
        True,
        False,
    ),
]


async def test_every_outcome_is_listed_once_with_its_reason(
    serve, settings, fake_services, clock, stored_cursor
):
    async with serve(settings, clock=clock) as stub:
        await _run_scenario(fake_services, clock, settings, stored_cursor)
        listed = await _list(stub)
        assert [_summary(a) for a in listed] == EXPECTED

        by_id = {a.event_message_id: a for a in listed}
        sent = by_id["e1"]
        assert sent.signal_kind == pb.TRIGGER_SIGNAL_KIND_EVENT_SEEN
        assert sent.signal_cursor.startswith("c")
        assert sent.decision.startswith("workspaces/default/decisions/")
        assert sent.message == "workspaces/default/messages/m1"
        assert sent.create_time.ToDatetime(tzinfo=UTC) == START + timedelta(minutes=2)
        # The decision named is the trigger's.
        decision = await stub.GetDecision(pb.GetDecisionRequest(name=sent.decision))
        assert decision.source == RENEWAL and decision.customer == ALICE
        skipped = await stub.GetDecision(pb.GetDecisionRequest(name=by_id["e2"].decision))
        assert [e.reason for e in skipped.excluded_actions] == ["CONTACT_LIMIT"]
        # Get answers what List listed.
        for activity in listed:
            got = await stub.GetTriggerActivity(pb.GetTriggerActivityRequest(name=activity.name))
            assert got == activity

        # One trigger; one customer; one outcome; both filters.
        assert [a.event_message_id for a in await _list(stub, VISIT)] == ["v2", "v1"]
        alice = await _list(stub, customer=ALICE)
        assert [a.event_message_id for a in alice] == ["e3", "e2", "e1"]
        failed = await _list(stub, outcome=FAILED)
        assert [a.event_message_id for a in failed] == ["e3", "e0"]
        assert [
            a.event_message_id for a in await _list(stub, RENEWAL, customer=ALICE, outcome=SENT)
        ] == ["e1"]
        assert await _list(stub, VISIT, customer=ALICE) == []

        # Paging: two at a time, the same items in the same order, no page token on the last.
        pages = []
        token = ""
        while True:
            page = await stub.ListTriggerActivities(
                pb.ListTriggerActivitiesRequest(parent=ALL, page_size=3, page_token=token)
            )
            pages.append(len(page.trigger_activities))
            token = page.next_page_token
            if not token:
                break
        assert pages == [3, 3, 2]
        first = await stub.ListTriggerActivities(
            pb.ListTriggerActivitiesRequest(parent=ALL, page_size=3)
        )
        rest = await _list(stub, ALL, page_token=first.next_page_token)
        assert list(first.trigger_activities) + rest == listed
        # A token is bound to its request's filters.
        await expect_error(
            stub.ListTriggerActivities(
                pb.ListTriggerActivitiesRequest(
                    parent=ALL, page_token=first.next_page_token, outcome=SENT
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="page_token",
        )


async def test_export_includes_and_erasure_removes_a_customers_activities(
    serve, settings, fake_services, clock, stored_cursor
):
    async with serve(settings, clock=clock) as stub:
        await _run_scenario(fake_services, clock, settings, stored_cursor)

        # Exported after the decisions, outcomes and contributions, a page at a time.
        exported: list[pb.TriggerActivity] = []
        decisions = 0
        token = ""
        while True:
            page = await stub.ExportCustomerDecisions(
                pb.ExportCustomerDecisionsRequest(
                    parent=PARENT, customer=ALICE, page_size=2, page_token=token
                )
            )
            assert (
                len(page.decisions)
                + len(page.outcomes)
                + len(page.model_contributions)
                + len(page.trigger_activities)
                <= 2
            )
            if page.trigger_activities:
                assert not page.decisions  # decisions come first
            decisions += len(page.decisions)
            exported.extend(page.trigger_activities)
            token = page.next_page_token
            if not token:
                break
        assert decisions == 2  # e1 (sent) and e2 (contact limit)
        assert [a.event_message_id for a in exported] == ["e3", "e2", "e1"]
        assert {a.customer for a in exported} == {ALICE}

        erased = await stub.EraseCustomerDecisions(
            pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=ALICE)
        )
        assert erased.trigger_activity_count == 3
        assert await _list(stub, customer=ALICE) == []
        page = await stub.ExportCustomerDecisions(
            pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=ALICE)
        )
        assert not page.trigger_activities
        # Everyone else's stay.
        assert len(await _list(stub)) == len(EXPECTED) - 3

        # A signal for the erased customer handled afterwards leaves no activity.
        fake_services.profile.traits.pop(ALICE)
        await fake_services.emit_event(ALICE, EVENT, message_id="late", properties={"days_left": 1})
        await fake_services.emit_event(DAVE, EVENT, message_id="sentinel", properties={})

        async def sentinel_seen() -> bool:
            return any(a.event_message_id == "sentinel" for a in await _list(stub))

        await eventually(sentinel_seen)
        assert await _list(stub, customer=ALICE) == []


def _trait(key: str, value) -> profile_pb.TraitChanged:
    return profile_pb.TraitChanged(
        key=key, new_value=json_format.ParseDict(value, struct_pb2.Value())
    )


async def test_time_windows_too_late_and_dates_that_are_no_dates(
    serve, settings, fake_services, clock
):
    async with serve(settings, clock=clock) as stub:
        dates = (
            (ALICE, "31/12/2027"),
            (DAVE, "2027-02-28"),
            (EVE, "2027-03-20"),
            (CAROL, "2027-03-20"),
        )
        for customer, value in dates:
            await fake_services.profile.add_signal(
                profile_pb.Signal(
                    cursor=f"t{next(_cursors):06d}",
                    kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
                    customer=customer,
                    trait_changed=_trait("policy_renewal_date", value),
                )
            )
        listed = await _settled(stub, 4)
    by_customer = {a.customer: a for a in listed}
    not_a_date = by_customer[ALICE]
    assert not_a_date.name.startswith(WINDOW + "/activities/")
    assert not_a_date.outcome == FAILED
    assert not_a_date.reason == "DATE_TRAIT_NOT_A_DATE"
    assert not_a_date.signal_kind == pb.TRIGGER_SIGNAL_KIND_TRAIT_CHANGED
    assert not_a_date.signal_cursor.startswith("t")
    # The renewal date passed: the window is over, dropped. The activity shows its kind
    # only (the firing's key holds the trait's date).
    too_late = by_customer[DAVE]
    assert too_late.outcome == SKIPPED and too_late.reason == "TOO_LATE"
    assert too_late.signal_kind == pb.TRIGGER_SIGNAL_KIND_TIME_WINDOW
    assert too_late.signal_cursor == "" and too_late.event_message_id == ""
    assert not too_late.decision
    # 30 days before 2027-03-20 passed, the date has not: sent at today's fire time.
    sent = by_customer[EVE]
    assert sent.outcome == SENT and sent.reason == ""
    assert sent.signal_kind == pb.TRIGGER_SIGNAL_KIND_TIME_WINDOW
    assert sent.decision and sent.message
    # No profile when it fired (the scheduler stores this one on its own, not gathered
    # with a cursor as the runner's are).
    gone = by_customer[CAROL]
    assert gone.outcome == SKIPPED and gone.reason == "PROFILE_NOT_FOUND"
    assert gone.signal_kind == pb.TRIGGER_SIGNAL_KIND_TIME_WINDOW


async def test_activities_past_the_retention_are_pruned_in_batches(
    serve, make_settings, settings, fake_services, clock, monkeypatch
):
    monkeypatch.setattr(trigger_activities, "PRUNE_BATCH", 2)
    batches: list[int] = []
    prune = TriggerActivityRepository.prune

    async def counted(self, *args, **kwargs) -> int:
        removed = await prune(self, *args, **kwargs)
        if removed:
            batches.append(removed)
        return removed

    monkeypatch.setattr(TriggerActivityRepository, "prune", counted)
    pruned = make_settings(
        catalogue_file=settings.catalogue_file,
        triggers_enabled=True,
        trigger_activity_retention=timedelta(hours=1),
        trigger_activity_prune_seconds=0.05,
    )
    async with serve(pruned, clock=clock) as stub:
        for n in range(5):  # rule errors: an activity each, nothing sent
            await fake_services.emit_event(ALICE, EVENT, message_id=f"old{n}")
        await _settled(stub, 5)
        clock.now = START + timedelta(hours=2)
        await fake_services.emit_event(ALICE, EVENT, message_id="new")

        async def only_the_new_one() -> bool:
            return [a.event_message_id for a in await _list(stub)] == ["new"]

        await eventually(only_the_new_one)
    assert batches == [2, 2, 1]


async def test_refusals(stub):
    # Another workspace: not served here.
    await expect_error(
        stub.ListTriggerActivities(
            pb.ListTriggerActivitiesRequest(parent="workspaces/other/triggers/-")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        stub.GetTriggerActivity(
            pb.GetTriggerActivityRequest(name="workspaces/other/triggers/t/activities/a")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        stub.GetTriggerActivity(
            pb.GetTriggerActivityRequest(name="workspaces/default/triggers/t/activities/none")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    # A trigger that left no activity (or does not exist): nothing listed.
    page = await stub.ListTriggerActivities(pb.ListTriggerActivitiesRequest(parent=RENEWAL))
    assert not page.trigger_activities and not page.next_page_token

    for parent in (
        "",
        "workspaces/default",
        "workspaces/default/triggers",
        "workspaces/default/triggers/",
        "workspaces/default/triggers/--",
        "workspaces/-/triggers/-",
        "workspaces/default/triggers/-/activities",
        "workspaces/default/actions/-",
        "workspaces/Default/triggers/x",
    ):
        await expect_error(
            stub.ListTriggerActivities(pb.ListTriggerActivitiesRequest(parent=parent)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="parent",
        )
    for name in (
        "",
        "workspaces/default/triggers/-/activities/a",  # Get names one trigger
        "workspaces/default/triggers/t",
        "workspaces/default/triggers/t/activities/",
        "workspaces/default/triggers/t/activities/A",
    ):
        await expect_error(
            stub.GetTriggerActivity(pb.GetTriggerActivityRequest(name=name)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="name",
        )
    for customer in ("alice", "workspaces/other/customers/alice"):
        await expect_error(
            stub.ListTriggerActivities(
                pb.ListTriggerActivitiesRequest(parent=ALL, customer=customer)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="customer",
        )
    await expect_error(
        stub.ListTriggerActivities(pb.ListTriggerActivitiesRequest(parent=ALL, outcome=99)),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="outcome",
    )
    await expect_error(
        stub.ListTriggerActivities(
            pb.ListTriggerActivitiesRequest(parent=ALL, page_token="not-a-token")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="page_token",
    )
