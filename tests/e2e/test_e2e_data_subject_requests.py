"""Data subject requests with all five services as processes (DESIGN.md: "After an
erasure completes, an access request finds nothing in any service").

A customer is identified by email and phone with traits and a track event, grants
email marketing consent, gets a decision (with an outcome) and an email that lands in
the SMTP sink. An ACCESS request through consent finds them in every service; an
ERASURE (identifiers blocked) succeeds in every service; a new ACCESS request then
finds nothing anywhere, what the first one collected is gone too, and each service's
own export and erase methods say the same.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from rapport.consent.v1 import consent_service_pb2 as consent_pb
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc
from rapport.decisioning.v1 import decisioning_service_pb2 as decisioning_pb
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as decisioning_grpc
from rapport.delivery.v1 import delivery_service_pb2 as delivery_pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as delivery_grpc
from rapport.grpctesting import eventually
from rapport.identity.v1 import identity_service_pb2 as identity_pb
from rapport.identity.v1 import identity_service_pb2_grpc as identity_grpc
from rapport.localsuite import SERVICES, Suite, SuiteLayout
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.profile.v1 import profile_service_pb2_grpc as profile_grpc
from rapport.type.v1 import channel_pb2, message_content_pb2

from .test_e2e_renewal import Token
from .test_e2e_walking_skeleton import free_ports, smtp_inbox  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

WORKSPACE = "workspaces/default"
# The demo catalogue's (make run loads it): offered to customers holding motor cover.
ACTION = "workspaces/default/actions/home-cross-sell"
# The order consent runs and lists the steps in (identity first: nothing new is linked
# to the customer while the others erase).
STEP_ORDER = ["identity", "profile", "decisioning", "delivery", "consent"]
Request = consent_pb.DataSubjectRequest
Step = consent_pb.DataSubjectRequestStep
# A message's states before it is SENT (any other is a failure to send).
ON_ITS_WAY = (delivery_pb.MESSAGE_STATE_QUEUED, delivery_pb.MESSAGE_STATE_SENDING)
# Steps retry with backoff, and a step waiting for its next attempt must not fail the test.
REQUEST_TIMEOUT = 90.0


class Stubs:
    def __init__(self, channels: dict[str, grpc.aio.Channel]) -> None:
        self.identity = identity_grpc.IdentityServiceStub(channels["identity"])
        self.profile = profile_grpc.ProfileServiceStub(channels["profile"])
        self.consent = consent_grpc.ConsentServiceStub(channels["consent"])
        self.decisioning = decisioning_grpc.DecisioningServiceStub(channels["decisioning"])
        self.delivery = delivery_grpc.DeliveryServiceStub(channels["delivery"])


class Person:
    """The customer's personal data, as sent to the suite and as the services keep it."""

    def __init__(self, run: str) -> None:
        self.user_id = f"user-{run}"
        self.email = f"ada.{run}@example.com"
        self.phone = "+44 20 7946 0958"
        self.phone_e164 = "+442079460958"
        self.first_name = "Adalinda"
        self.subject = f"Your home quote {run}"
        self.proof = f"form-submission-{run}"

    def values(self) -> list[str]:
        """What no service may still hold once the customer is erased."""
        return [
            self.user_id,
            self.email,
            self.phone,
            self.phone_e164,
            self.first_name,
            self.subject,
            self.proof,
        ]


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def non_empty_lists(value: Any, path: str = "$") -> list[str]:
    """Where a JSON document still lists something (records of the customer)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_empty_lists(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [path] if value else []
    return []


async def test_after_an_erasure_an_access_request_finds_nothing_in_any_service(
    tmp_path,
    smtp_inbox,  # noqa: F811
) -> None:
    inbox, smtp_port = smtp_inbox
    token = secrets.token_urlsafe(16)
    layout = SuiteLayout(
        data_dir=tmp_path / "data",
        smtp_port=smtp_port,
        ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
        http_ports={"delivery": free_ports(1)[0]},
        auth_token=token,
    )
    suite = Suite(layout)
    suite.start()
    try:
        await suite.wait_until_serving(within_seconds=60)
        channels = {
            s: grpc.aio.insecure_channel(layout.address(s), interceptors=[Token(token)])
            for s in SERVICES
        }
        try:
            await scenario(Stubs(channels), inbox)
        finally:
            for channel in channels.values():
                await channel.close()
    finally:
        codes = await asyncio.to_thread(suite.stop)
    assert codes == {s: 0 for s in SERVICES}


async def scenario(stubs: Stubs, inbox) -> None:
    run = uuid.uuid4().hex[:8]
    person = Person(run)
    customer, decision = await a_customer_known_everywhere(stubs, inbox, person, run)

    # 1. Access: every service finds the customer's data.
    access = await run_request(stubs, customer, consent_pb.DATA_SUBJECT_REQUEST_TYPE_ACCESS)
    assert access.HasField("expire_time") and access.expire_time.ToDatetime() > (
        access.complete_time.ToDatetime()
    )
    found = {step.service: step.data_json for step in access.steps}
    assert person.email in found["identity"]
    for value in (person.first_name, "motor", "Quote Viewed"):
        assert value in found["profile"], value
    assert decision in found["decisioning"]
    assert "OUTCOME_TYPE_IMPRESSION" in found["decisioning"] or "impression" in (
        found["decisioning"].lower()
    )
    assert person.subject in found["delivery"] and person.email in found["delivery"]
    assert person.proof in found["consent"]

    # 2. Erasure, the identifiers blocked for good.
    erasure = await run_request(
        stubs, customer, consent_pb.DATA_SUBJECT_REQUEST_TYPE_ERASURE, block_identifiers=True
    )
    assert erasure.block_identifiers
    assert not erasure.HasField("expire_time")
    assert all(step.data_json == "" for step in erasure.steps)
    # The receipt: every service erased something of this customer (profile follows
    # identity's erasure on its own, and may have done it before its step came).
    assert all(
        step.record_count > 0 for step in erasure.steps if step.service != "profile"
    ), erasure.steps
    assert all(step.record_count > 0 for step in access.steps), access.steps

    # 3. A new access request finds nothing in any service.
    after = await run_request(stubs, customer, consent_pb.DATA_SUBJECT_REQUEST_TYPE_ACCESS)
    for step in after.steps:
        data = json.loads(step.data_json)
        assert isinstance(data, dict), step.service
        for value in person.values():
            assert value not in step.data_json, (step.service, value)
        if step.service == "delivery":
            # The sent message stays as a redacted tombstone (state, times, its idempotency
            # key as a keyed digest): counts and idempotency keep working, its content and
            # address go.
            continue
        assert non_empty_lists(data) == [], step.service

    # Nothing left anywhere but delivery's tombstone.
    assert {s.service: s.record_count for s in after.steps} == {
        "identity": 0,
        "profile": 0,
        "decisioning": 0,
        "delivery": 1,
        "consent": 0,
    }

    # ... and what the first access request collected went with the erasure.
    first = await stubs.consent.GetDataSubjectRequest(
        consent_pb.GetDataSubjectRequestRequest(
            name=access.name, view=consent_pb.DATA_SUBJECT_REQUEST_VIEW_FULL
        )
    )
    assert [step.data_json for step in first.steps] == [""] * len(STEP_ORDER)

    listed = await stubs.consent.ListDataSubjectRequests(
        consent_pb.ListDataSubjectRequestsRequest(parent=WORKSPACE, customer=customer)
    )
    assert [r.name for r in listed.data_subject_requests] == [
        after.name,
        erasure.name,
        access.name,
    ]
    assert all(not s.data_json for r in listed.data_subject_requests for s in r.steps)

    await each_service_confirms_the_erasure(stubs, customer, person)


async def a_customer_known_everywhere(
    stubs: Stubs, inbox, person: Person, run: str
) -> tuple[str, str]:
    """The customer's name and their decision's, once identity, profile, consent,
    decisioning and delivery each hold something on them."""
    identify = profile_pb.Event(
        type=profile_pb.EVENT_TYPE_IDENTIFY,
        message_id=f"dsr-{run}-identify",
        user_id=person.user_id,
        traits=struct(
            {
                "email": person.email,
                "phone": person.phone,
                "first_name": person.first_name,
                "plan": "motor",
            }
        ),
        original_time=now(),
        sent_time=now(),
    )
    track = profile_pb.Event(
        type=profile_pb.EVENT_TYPE_TRACK,
        message_id=f"dsr-{run}-track",
        user_id=person.user_id,
        event="Quote Viewed",
        properties=struct({"product": "home"}),
        original_time=now(),
        sent_time=now(),
    )
    reply = await stubs.profile.IngestEvents(
        profile_pb.IngestEventsRequest(parent=WORKSPACE, events=[identify, track])
    )
    customer = reply.results[0].customer
    assert customer and reply.results[1].customer == customer
    known = await stubs.identity.GetCustomer(identity_pb.GetCustomerRequest(name=customer))
    assert person.email in {i.value for i in known.identifiers}

    await stubs.consent.RecordConsent(
        consent_pb.RecordConsentRequest(
            parent=customer,
            record=consent_pb.ConsentRecord(
                purpose="marketing",
                channel=channel_pb2.CHANNEL_EMAIL,
                state=consent_pb.CONSENT_STATE_GRANTED,
                source="web_form",
                notice_version="2026-01",
                proof=person.proof,
            ),
        )
    )

    decided = await stubs.decisioning.Decide(
        decisioning_pb.DecideRequest(
            parent=WORKSPACE, customer=customer, channel=channel_pb2.CHANNEL_EMAIL
        )
    )
    assert decided.decision
    await stubs.decisioning.RecordOutcome(
        decisioning_pb.RecordOutcomeRequest(
            parent=WORKSPACE,
            outcome=decisioning_pb.Outcome(
                decision=decided.decision,
                customer=customer,
                action=ACTION,
                type=decisioning_pb.OUTCOME_TYPE_IMPRESSION,
                channel=channel_pb2.CHANNEL_EMAIL,
            ),
        )
    )

    sent = await stubs.delivery.SendMessage(
        delivery_pb.SendMessageRequest(
            parent=WORKSPACE,
            idempotency_key=f"dsr-{run}",
            customer=customer,
            purpose="marketing",
            channel=channel_pb2.CHANNEL_EMAIL,
            content=message_content_pb2.MessageContent(
                subject=person.subject, text_body=f"Hello {person.first_name}"
            ),
        )
    )

    async def message_sent() -> bool:
        message = await stubs.delivery.GetMessage(delivery_pb.GetMessageRequest(name=sent.name))
        assert message.state in ON_ITS_WAY + (delivery_pb.MESSAGE_STATE_SENT,), message
        return message.state == delivery_pb.MESSAGE_STATE_SENT

    await eventually(message_sent, timeout=30, interval=0.2)
    await eventually(lambda: any(person.email in to for to, _ in inbox.mails), timeout=10)

    # Delivery's "Email Sent" event reaches profile through its outbox: waited for, so
    # that it is part of what is erased rather than arriving after the erasure.
    async def sent_event_in_profile() -> bool:
        events = await stubs.profile.ListEvents(
            profile_pb.ListEventsRequest(parent=customer, page_size=100)
        )
        return any(e.event == "Email Sent" for e in events.events)

    await eventually(sent_event_in_profile, timeout=30, interval=0.2)
    return customer, decided.decision


async def run_request(
    stubs: Stubs, customer: str, kind: int, *, block_identifiers: bool = False
) -> consent_pb.DataSubjectRequest:
    """Create a request and wait until it SUCCEEDED; the request in the FULL view."""
    created = await stubs.consent.CreateDataSubjectRequest(
        consent_pb.CreateDataSubjectRequestRequest(
            parent=WORKSPACE,
            data_subject_request=Request(
                customer=customer, type=kind, block_identifiers=block_identifiers
            ),
            request_id=str(uuid.uuid4()),
        )
    )
    assert created.customer == customer and created.type == kind
    assert [step.service for step in created.steps] == STEP_ORDER

    async def succeeded() -> consent_pb.DataSubjectRequest | None:
        current = await stubs.consent.GetDataSubjectRequest(
            consent_pb.GetDataSubjectRequestRequest(
                name=created.name, view=consent_pb.DATA_SUBJECT_REQUEST_VIEW_FULL
            )
        )
        return current if current.state == Request.STATE_SUCCEEDED else None

    try:
        done = await eventually(succeeded, timeout=REQUEST_TIMEOUT, interval=0.3)
    except AssertionError:
        stuck = await stubs.consent.GetDataSubjectRequest(
            consent_pb.GetDataSubjectRequestRequest(name=created.name)
        )
        raise AssertionError(f"not SUCCEEDED in {REQUEST_TIMEOUT} s: {stuck}") from None
    assert [step.service for step in done.steps] == STEP_ORDER
    for step in done.steps:
        assert step.state == Step.STATE_SUCCEEDED, step.service
        assert step.attempt_count >= 1 and step.HasField("complete_time"), step.service
        assert not step.HasField("last_error") and not step.HasField("next_attempt_time")
    assert done.HasField("complete_time")
    return done


async def each_service_confirms_the_erasure(stubs: Stubs, customer: str, person: Person) -> None:
    """Each service's own export and erase methods: nothing left, nothing more to erase."""
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stubs.identity.GetCustomer(identity_pb.GetCustomerRequest(name=customer))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    profile = f"{customer}/profile"
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stubs.profile.ExportProfile(profile_pb.ExportProfileRequest(name=profile))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    erased = await stubs.profile.EraseProfile(profile_pb.EraseProfileRequest(name=profile))
    assert (erased.erased_event_count, erased.erased_trait_count) == (0, 0)

    decisions = await stubs.decisioning.ExportCustomerDecisions(
        decisioning_pb.ExportCustomerDecisionsRequest(parent=WORKSPACE, customer=customer)
    )
    assert (
        list(decisions.decisions),
        list(decisions.outcomes),
        list(decisions.model_contributions),
    ) == ([], [], [])
    erased_decisions = await stubs.decisioning.EraseCustomerDecisions(
        decisioning_pb.EraseCustomerDecisionsRequest(parent=WORKSPACE, customer=customer)
    )
    assert (erased_decisions.decision_count, erased_decisions.outcome_count) == (0, 0)

    exported = await stubs.delivery.ExportCustomerMessages(
        delivery_pb.ExportCustomerMessagesRequest(parent=customer)
    )
    assert len(exported.messages) == 1  # the redacted tombstone
    [tombstone] = exported.messages
    assert tombstone.message.state == delivery_pb.MESSAGE_STATE_SENT
    assert tombstone.message.HasField("erase_time")
    assert not tombstone.content.subject and not tombstone.content.text_body
    assert not tombstone.recipient and not tombstone.identifiers
    assert person.subject not in str(tombstone) and person.email not in str(tombstone)
    # Its idempotency key (senders build them from personal data) kept as a keyed digest.
    assert tombstone.message.idempotency_key.startswith("erased-hmac-sha256:")
    erased_messages = await stubs.delivery.EraseCustomerMessages(
        delivery_pb.EraseCustomerMessagesRequest(parent=customer)
    )
    assert erased_messages.erased_message_count == 0

    records = await stubs.consent.ListConsentRecords(
        consent_pb.ListConsentRecordsRequest(parent=customer)
    )
    assert list(records.consent_records) == []
