"""The trigger runner against fake profile, consent and delivery gRPC servers."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import json_format
from rapport.decisioning.adapters import tables
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.sqlstore import create_engine
from rapport.type.v1 import channel_pb2, message_content_pb2

ALICE = "workspaces/default/customers/alice"
BOB = "workspaces/default/customers/bob"
EVENT = "Policy Renewal Due"

CATALOGUE = """
actions:
  - id: renewal-reminder
    display_name: Renewal reminder
    channels: [email]
    purpose: marketing
    value: 120.0
    content:
      subject: "Your policy renews soon, {{ traits.first_name }}"
      text_body: "Renew within {{ data.event.days_left }} days."
triggers:
  - id: renewal-due
    event_name: Policy Renewal Due
    condition: 'event.properties.days_left <= 30'
    action: renewal-reminder
    channel: email
"""


@pytest.fixture
def trigger_settings(tmp_path, make_settings, fake_services):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    fake_services.profile.traits[ALICE] = {"first_name": "Alice"}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    return make_settings(catalogue_file=path, triggers_enabled=True)


async def stored_cursor(settings) -> str:
    engine = create_engine(settings.database_url_or_default())
    try:
        async with engine.connect() as conn:
            value = await conn.scalar(sa.select(tables.signal_cursors.c.cursor))
    finally:
        await engine.dispose()
    return value or ""


async def test_matching_event_sends_once_with_the_derived_key(
    serve, trigger_settings, fake_services, eventually
):
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        await fake_services.emit_event(
            ALICE, EVENT, message_id="evt-1", properties={"days_left": 10}
        )
        await eventually(lambda: len(delivery.accepted) == 1)
        # A later matching event proves the first was not sent again meanwhile.
        await fake_services.emit_event(
            ALICE, EVENT, message_id="evt-2", properties={"days_left": 3}
        )
        await eventually(lambda: len(delivery.accepted) == 2)

    sent = delivery.accepted[0]
    assert sent.parent == "workspaces/default"
    assert sent.idempotency_key == "trigger:renewal-due:evt-1"
    assert sent.customer == ALICE
    assert sent.purpose == "marketing"
    assert sent.channel == channel_pb2.CHANNEL_EMAIL
    assert sent.content.subject == "Your policy renews soon, {{ traits.first_name }}"
    assert sent.content.text_body == "Renew within {{ data.event.days_left }} days."
    assert json_format.MessageToDict(sent.data) == {"event": {"days_left": 10}}
    assert sent.source == "workspaces/default/triggers/renewal-due"
    assert delivery.keys == ["trigger:renewal-due:evt-1", "trigger:renewal-due:evt-2"]
    # Consent was checked at decide time for the trigger's channel.
    assert [(r.customer, r.purpose, r.channel) for r in fake_services.consent.check_requests] == [
        (ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    ] * 2
    # The watch asked for event-seen signals of the workspace, from the start.
    watch = fake_services.profile.watch_requests[0]
    assert watch.parent == "workspaces/default" and watch.start_cursor == ""
    assert list(watch.kinds) == [profile_pb.SIGNAL_KIND_EVENT_SEEN]


async def test_non_matching_signals_send_nothing(
    serve, trigger_settings, fake_services, eventually
):
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, "Policy Bought", properties={"days_left": 1})
        await fake_services.emit_event(ALICE, EVENT, properties={"days_left": 60})
        await fake_services.emit_event(
            ALICE, EVENT, properties={"days_left": 1}, event_type=profile_pb.EVENT_TYPE_PAGE
        )
        await fake_services.emit_event(BOB, EVENT, properties={"days_left": 1})  # no consent
        await fake_services.emit_event(ALICE, EVENT, properties={})  # condition error
        sentinel = await fake_services.emit_event(
            ALICE, EVENT, message_id="sentinel", properties={"days_left": 1}
        )
        await eventually(lambda: len(delivery.accepted) == 1)
        await eventually(lambda: delivery.accepted[0].idempotency_key.endswith(":sentinel"))
    assert len(delivery.requests) == 1
    # Bob was asked about (and refused); the others never reached consent.
    assert [r.customer for r in fake_services.consent.check_requests] == [BOB, ALICE]
    assert sentinel.cursor


async def test_restart_resumes_after_the_stored_cursor(
    serve, trigger_settings, fake_services, eventually
):
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        second = await fake_services.emit_event(
            ALICE, EVENT, message_id="e2", properties={"days_left": 1}
        )
        await eventually(lambda: len(delivery.accepted) == 2)
        # Handled fully: the cursor is stored after the send.
        for _ in range(200):
            if await stored_cursor(trigger_settings) == second.cursor:
                break
            await asyncio.sleep(0.01)
        assert await stored_cursor(trigger_settings) == second.cursor

    # A new build on the same database resumes after e2.
    async with serve(trigger_settings):
        await eventually(lambda: len(fake_services.profile.watch_requests) == 2)
        assert fake_services.profile.watch_requests[1].start_cursor == second.cursor
        await fake_services.emit_event(ALICE, EVENT, message_id="e3", properties={"days_left": 1})
        await eventually(lambda: len(delivery.accepted) == 3)
        # A replay of e1 (same message id at a new position) gets the same key.
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        await eventually(lambda: len(delivery.accepted) == 4)

    assert delivery.keys == [
        "trigger:renewal-due:e1",
        "trigger:renewal-due:e2",
        "trigger:renewal-due:e3",
        "trigger:renewal-due:e1",
    ]


async def test_delivery_unavailable_is_retried_until_it_recovers(
    serve, trigger_settings, fake_services, eventually
):
    delivery = fake_services.delivery
    delivery.fail_with = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        await eventually(lambda: len(delivery.accepted) == 1)
    assert len(delivery.requests) == 3
    assert {r.idempotency_key for r in delivery.requests} == {"trigger:renewal-due:e1"}


async def test_permanent_delivery_error_skips_the_signal(
    serve, trigger_settings, fake_services, eventually
):
    delivery = fake_services.delivery
    delivery.fail_with = [grpc.StatusCode.INVALID_ARGUMENT]
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        await fake_services.emit_event(ALICE, EVENT, message_id="e2", properties={"days_left": 1})
        await eventually(lambda: len(delivery.accepted) == 1)
    assert [r.idempotency_key for r in delivery.requests] == [
        "trigger:renewal-due:e1",
        "trigger:renewal-due:e2",
    ]
    assert delivery.keys == ["trigger:renewal-due:e2"]


async def test_broken_stream_reconnects_from_the_stored_cursor(
    serve, trigger_settings, fake_services, eventually
):
    fake_services.profile.break_stream = (1, grpc.StatusCode.UNAVAILABLE)
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        first = await fake_services.emit_event(
            ALICE, EVENT, message_id="e1", properties={"days_left": 1}
        )
        await fake_services.emit_event(ALICE, EVENT, message_id="e2", properties={"days_left": 1})
        await eventually(lambda: len(delivery.accepted) == 2)
    requests = fake_services.profile.watch_requests
    assert [r.start_cursor for r in requests] == ["", first.cursor]
    assert delivery.keys == ["trigger:renewal-due:e1", "trigger:renewal-due:e2"]


async def test_consent_unavailable_is_retried(serve, trigger_settings, fake_services, eventually):
    fake_services.consent.unavailable = True
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        await eventually(lambda: len(fake_services.consent.check_requests) >= 2)
        assert delivery.requests == []
        fake_services.consent.unavailable = False
        await eventually(lambda: len(delivery.accepted) == 1)


async def test_triggers_created_over_grpc_fire(serve, make_settings, fake_services, eventually):
    from rapport.decisioning.v1 import decisioning_service_pb2 as pb

    fake_services.consent.grant(ALICE, "service", channel_pb2.CHANNEL_SMS)
    async with serve(make_settings(triggers_enabled=True)) as stub:
        await stub.CreateAction(
            pb.CreateActionRequest(
                parent="workspaces/default",
                action_id="welcome",
                action=pb.Action(
                    channels=[channel_pb2.CHANNEL_SMS],
                    purpose="service",
                    value=1.0,
                    content=message_content_pb2.MessageContent(text_body="Welcome"),
                ),
            )
        )
        await stub.CreateTrigger(
            pb.CreateTriggerRequest(
                parent="workspaces/default",
                trigger_id="welcome",
                trigger=pb.Trigger(
                    event_name="Signed Up",
                    action="workspaces/default/actions/welcome",
                    channel=channel_pb2.CHANNEL_SMS,
                ),
            )
        )
        await fake_services.emit_event(ALICE, "Signed Up", message_id="s1")
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
    sent = fake_services.delivery.accepted[0]
    assert sent.channel == channel_pb2.CHANNEL_SMS
    assert sent.idempotency_key == "trigger:welcome:s1"
    # Unknown profile: the condition-free trigger still fires.
    assert fake_services.profile.get_profile_calls == 1
