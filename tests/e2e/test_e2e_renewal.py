"""The seeds' renewal scenario with all five services as processes (issue 9, "Done when").

200 customers with a `policy_renewal_date` trait (half 30 days away, half 60) and a
preferred channel (email or SMS), some without marketing consent; a renewal experiment
with a 10% control group; a time-window trigger 30 days before the renewal date, on
the customer's best channel. It fires for exactly the consenting, non-control customers
whose renewal is 30 days away, each on their preferred channel; a second trigger on the
same action (a `Quote Viewed` event) sends nobody a second message within the week;
the control group gets nothing. Delivery's status events come back through profile as
outcomes of the decisions, on the channel delivery chose. `Policy Renewed` events
afterwards become conversions, and the experiment report shows them per arm with the
uplift over control.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from rapport.consent.v1 import consent_service_pb2 as consent_pb
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as decisioning_grpc
from rapport.delivery.v1 import delivery_service_pb2 as delivery_pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as delivery_grpc
from rapport.grpctesting import eventually
from rapport.localsuite import SERVICES, ProviderSinks, Suite, SuiteLayout
from rapport.localsuite.provider_sinks import new_webhook_secret
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.profile.v1 import profile_service_pb2_grpc as profile_grpc
from rapport.type.v1 import channel_pb2

from .test_e2e_walking_skeleton import free_ports, smtp_inbox  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

WORKSPACE = "workspaces/default"
CUSTOMERS = 200
ACTION = "workspaces/default/actions/renewal-reminder"
EXPERIMENT = "workspaces/default/experiments/renewal"
WINDOW_TRIGGER = "workspaces/default/triggers/renewal-30"
QUOTE_TRIGGER = "workspaces/default/triggers/quote-viewed"
CATALOGUE = """
settings:
  contact_limits:
    - channels: [email, sms]
      purposes: [marketing]
      max_contacts: 1
      period: 7d
actions:
  - id: renewal-reminder
    channels: [email, sms]
    purpose: marketing
    value: 100.0
    content:
      subject: "Your policy renews soon"
      text_body: "Your policy renews on {{ data.event.date }}."
triggers:
  - id: renewal-30
    kind: time_window
    date_trait: policy_renewal_date
    offset_days: -30
    action: renewal-reminder
    channel: email
    best_channel: true
  - id: quote-viewed
    event_name: Quote Viewed
    action: renewal-reminder
    channel: email
    best_channel: true
"""


def struct(values: dict) -> struct_pb2.Struct:
    return json_format.ParseDict(values, struct_pb2.Struct())


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class Token(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),)

    async def intercept_unary_unary(self, continuation, details, request):
        details = details._replace(metadata=self._metadata)
        return await continuation(details, request)


async def all_pages(call, request, field: str) -> list:
    items, token = [], ""
    while True:
        request.page_token = token
        request.page_size = 1000
        reply = await call(request)
        items += getattr(reply, field)
        token = reply.next_page_token
        if not token:
            return items


async def test_renewal_scenario_end_to_end(tmp_path, smtp_inbox):  # noqa: F811
    _inbox, smtp_port = smtp_inbox
    token = secrets.token_urlsafe(16)
    catalogue = tmp_path / "renewal.yaml"
    catalogue.write_text(CATALOGUE)
    sinks = ProviderSinks(tmp_path / "providers", webhook_secret=new_webhook_secret(), port=0)
    await sinks.start()
    layout = SuiteLayout(
        data_dir=tmp_path / "data",
        smtp_port=smtp_port,
        ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
        http_ports={"delivery": free_ports(1)[0], "profile": free_ports(1)[0]},
        catalogue_file=catalogue,
        auth_token=token,
        extra_env={
            **sinks.delivery_environment(),
            "RAPPORT_DECISIONING_TRIGGER_SCHEDULE_POLL_SECONDS": "0.5",
            # Firings at midnight (UTC, the default zone), and sent at once all that day:
            # today's are due whatever the time of day the test runs (at 09:00, the
            # default, they would wait until then; found over an hour late, until the
            # next day's fire time).
            "RAPPORT_DECISIONING_TIME_WINDOW_FIRE_TIME": "00:00",
            "RAPPORT_DECISIONING_TIME_WINDOW_LATE_AFTER_SECONDS": "86400",
        },
    )
    suite = Suite(layout)
    suite.start()
    try:
        await suite.wait_until_serving(within_seconds=60)
        await play(layout, token)
    finally:
        codes = await asyncio.to_thread(suite.stop)
        await sinks.stop()
    assert codes == {s: 0 for s in SERVICES}


async def play(layout: SuiteLayout, token: str) -> None:
    interceptors = [Token(token)]
    channels = {
        s: grpc.aio.insecure_channel(layout.address(s), interceptors=interceptors)
        for s in ("profile", "consent", "decisioning", "delivery")
    }
    try:
        profile = profile_grpc.ProfileServiceStub(channels["profile"])
        consent = consent_grpc.ConsentServiceStub(channels["consent"])
        decisioning = decisioning_grpc.DecisioningServiceStub(channels["decisioning"])
        delivery = delivery_grpc.DeliveryServiceStub(channels["delivery"])
        await scenario(profile, consent, decisioning, delivery)
    finally:
        for channel in channels.values():
            await channel.close()


async def scenario(profile, consent, decisioning, delivery) -> None:
    run = uuid.uuid4().hex[:8]
    today = datetime.now(UTC).date()
    await decisioning.CreateExperiment(
        pb.CreateExperimentRequest(
            parent=WORKSPACE,
            experiment_id="renewal",
            experiment=pb.Experiment(
                display_name="Renewal reminder",
                actions=[ACTION],
                arms=[
                    pb.ExperimentArm(
                        arm_id="reminder", strategy=pb.EXPERIMENT_STRATEGY_MODEL, weight=90
                    ),
                    pb.ExperimentArm(
                        arm_id="control", strategy=pb.EXPERIMENT_STRATEGY_CONTROL, weight=10
                    ),
                ],
            ),
        )
    )
    await decisioning.CreateConversionRule(
        pb.CreateConversionRuleRequest(
            parent=WORKSPACE,
            conversion_rule_id="renewed",
            conversion_rule=pb.ConversionRule(
                action=ACTION, event_name="Policy Renewed", window={"seconds": 30 * 86400}
            ),
        )
    )

    # 1. Customers, with addresses and a preferred channel.
    people = []
    for n in range(CUSTOMERS):
        people.append(
            {
                "user": f"{run}-c{n:03d}",
                "preferred": "sms" if n % 2 else "email",
                "soon": n % 4 < 2,  # renewal 30 days away (else 60)
                "consents": n % 10 != 3,  # every tenth customer never consented
            }
        )
    identify = [
        profile_pb.Event(
            type=profile_pb.EVENT_TYPE_IDENTIFY,
            message_id=f"{p['user']}-identify",
            user_id=p["user"],
            traits=struct(
                {
                    "email": f"{p['user']}@example.com",
                    "phone": f"+336120{n:05d}",
                    "preferred_channel": p["preferred"],
                    "first_name": "Customer",
                }
            ),
            original_time=now(),
            sent_time=now(),
        )
        for n, p in enumerate(people)
    ]
    reply = await profile.IngestEvents(
        profile_pb.IngestEventsRequest(parent=WORKSPACE, events=identify), timeout=60
    )
    for person, result in zip(people, reply.results, strict=True):
        assert result.customer, result
        person["customer"] = result.customer

    # 2. Marketing consent on email and SMS for most of them.
    for person in people:
        if not person["consents"]:
            continue
        for channel in (channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS):
            await consent.RecordConsent(
                consent_pb.RecordConsentRequest(
                    parent=person["customer"],
                    record=consent_pb.ConsentRecord(
                        purpose="marketing",
                        channel=channel,
                        state=consent_pb.CONSENT_STATE_GRANTED,
                        source="e2e",
                        notice_version="2026-01",
                        proof=f"form-{run}",
                    ),
                )
            )

    # 3. The renewal dates: the time-window trigger schedules itself from them.
    dates = [
        profile_pb.Event(
            type=profile_pb.EVENT_TYPE_IDENTIFY,
            message_id=f"{p['user']}-renewal",
            user_id=p["user"],
            traits=struct(
                {
                    "policy_renewal_date": (
                        today + timedelta(days=30 if p["soon"] else 60)
                    ).isoformat()
                }
            ),
            original_time=now(),
            sent_time=now(),
        )
        for p in people
    ]
    await profile.IngestEvents(
        profile_pb.IngestEventsRequest(parent=WORKSPACE, events=dates), timeout=60
    )

    soon = [p for p in people if p["soon"]]
    eligible = [p for p in soon if p["consents"]]
    by_customer = {p["customer"]: p for p in people}

    async def window_decisions() -> dict[str, pb.Decision]:
        decisions = await all_pages(
            decisioning.ListDecisions, pb.ListDecisionsRequest(parent=WORKSPACE), "decisions"
        )
        return {d.customer: d for d in decisions if d.source == WINDOW_TRIGGER}

    async def decided_for_every_soon_customer():
        found = await window_decisions()
        return found if set(found) == {p["customer"] for p in soon} else None

    decided = await eventually(decided_for_every_soon_customer, timeout=120)
    for person in soon:
        decision = decided[person["customer"]]
        if person["consents"]:
            assert decision.experiment == EXPERIMENT
            person["control"] = decision.control
        else:
            assert [e.reason for e in decision.excluded_actions] == ["NO_CONSENT"]
            assert not decision.experiment
    treated = [p for p in eligible if not p["control"]]
    control = [p for p in eligible if p["control"]]
    assert treated and control, (len(treated), len(control))
    assert len(control) < len(eligible) / 3

    async def messages() -> list[delivery_pb.Message]:
        return await all_pages(
            delivery.ListMessages, delivery_pb.ListMessagesRequest(parent=WORKSPACE), "messages"
        )

    async def every_treated_customer_got_one():
        found = await messages()
        # Delivery chooses the best channel at its first sending attempt.
        chosen = [m for m in found if m.channel != channel_pb2.CHANNEL_UNSPECIFIED]
        return found if len(chosen) >= len(treated) else None

    sent = await eventually(every_treated_customer_got_one, timeout=60)
    assert sorted(m.customer for m in sent) == sorted(p["customer"] for p in treated)
    for message in sent:
        preferred = by_customer[message.customer]["preferred"]
        expected = channel_pb2.CHANNEL_SMS if preferred == "sms" else channel_pb2.CHANNEL_EMAIL
        assert message.channel == expected, message.name
        assert message.source == WINDOW_TRIGGER

    # Delivery's status events come back through profile as outcomes of the decisions.
    async def sent_outcomes():
        outcomes = await all_pages(
            decisioning.ListOutcomes, pb.ListOutcomesRequest(parent=WORKSPACE), "outcomes"
        )
        found = [o for o in outcomes if o.type == pb.OUTCOME_TYPE_SENT]
        return found if len(found) >= len(treated) else None

    for outcome in await eventually(sent_outcomes, timeout=60):
        assert outcome.decision == decided[outcome.customer].name
        assert outcome.action == ACTION
        preferred = by_customer[outcome.customer]["preferred"]
        assert outcome.channel == (
            channel_pb2.CHANNEL_SMS if preferred == "sms" else channel_pb2.CHANNEL_EMAIL
        )

    # 4. A second trigger on the same action matches everyone due soon: nobody gets a
    # second message within the week (contact limit), the control group still nothing.
    views = [
        profile_pb.Event(
            type=profile_pb.EVENT_TYPE_TRACK,
            message_id=f"{p['user']}-quote",
            user_id=p["user"],
            event="Quote Viewed",
            original_time=now(),
            sent_time=now(),
        )
        for p in soon
    ]
    await profile.IngestEvents(
        profile_pb.IngestEventsRequest(parent=WORKSPACE, events=views), timeout=60
    )

    async def quote_decisions():
        decisions = await all_pages(
            decisioning.ListDecisions, pb.ListDecisionsRequest(parent=WORKSPACE), "decisions"
        )
        mine = [d for d in decisions if d.source == QUOTE_TRIGGER]
        return mine if len(mine) == len(soon) else None

    for decision in await eventually(quote_decisions, timeout=60):
        assert not decision.actions, decision.name
        reasons = {e.reason for e in decision.excluded_actions}
        person = by_customer[decision.customer]
        if not person["consents"]:
            assert reasons == {"NO_CONSENT"}
        elif person["control"]:
            assert reasons == {"CONTROL_GROUP"}
        else:
            assert reasons == {"CONTACT_LIMIT"}
    await asyncio.sleep(1.0)
    assert len(await messages()) == len(treated)

    # 5. Some renew: every other eligible customer, in both arms.
    renewing = eligible[::2]
    renewals = [
        profile_pb.Event(
            type=profile_pb.EVENT_TYPE_TRACK,
            message_id=f"{p['user']}-renewed",
            user_id=p["user"],
            event="Policy Renewed",
            properties=struct({"value": 480.0}),
            original_time=now(),
            sent_time=now(),
        )
        for p in renewing
    ]
    await profile.IngestEvents(
        profile_pb.IngestEventsRequest(parent=WORKSPACE, events=renewals), timeout=60
    )

    async def conversions():
        outcomes = await all_pages(
            decisioning.ListOutcomes, pb.ListOutcomesRequest(parent=WORKSPACE), "outcomes"
        )
        found = [o for o in outcomes if o.type == pb.OUTCOME_TYPE_CONVERSION]
        return found if len(found) >= len(renewing) else None

    converted = await eventually(conversions, timeout=60)
    assert sorted(o.customer for o in converted) == sorted(p["customer"] for p in renewing)

    report = await decisioning.GetExperimentReport(pb.GetExperimentReportRequest(name=EXPERIMENT))
    arms = {a.arm_id: a for a in report.arms}
    renewed = {p["customer"] for p in renewing}
    for arm_id, members in (("reminder", treated), ("control", control)):
        arm = arms[arm_id]
        assert arm.reach == len(members)
        expected = sum(1 for p in members if p["customer"] in renewed)
        assert arm.conversions == expected
        assert arm.conversion_rate.estimate == pytest.approx(expected / len(members))
        assert arm.conversion_rate.lower <= arm.conversion_rate.estimate
        assert arm.conversion_value == pytest.approx(480.0 * expected)
    assert arms["reminder"].HasField("uplift")
    uplift = arms["reminder"].uplift
    assert uplift.estimate == pytest.approx(
        arms["reminder"].conversion_rate.estimate - arms["control"].conversion_rate.estimate
    )
    assert uplift.lower <= uplift.estimate <= uplift.upper
    # Every decision accounts for every catalogue action.
    sample = next(iter(decided.values()))
    accounted = {a.action for a in sample.actions} | {e.action for e in sample.excluded_actions}
    assert accounted == {ACTION}
