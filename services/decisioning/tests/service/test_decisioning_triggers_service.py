"""The trigger runner against fake profile, consent and delivery gRPC servers (and a profile
served by the real runtime with authentication on). One bad signal never stops the triggers."""

from __future__ import annotations

import logging
import math

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from rapport.config import ServiceSettings
from rapport.decisioning.service_layer.trigger_runner import STUCK_AFTER
from rapport.grpcserver import ServiceParts, start
from rapport.grpctesting import eventually
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.profile.v1 import profile_service_pb2_grpc
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import publish

ALICE = "workspaces/default/customers/alice"
BOB = "workspaces/default/customers/bob"
EVENT = "Policy Renewal Due"

# These tests send Alice several reminders a week: the default contact limits are off.
CATALOGUE = """
settings:
  contact_limits: []
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


async def test_matching_event_sends_once_with_the_derived_key(
    serve, trigger_settings, fake_services
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
    data = json_format.MessageToDict(sent.data)
    assert data["event"] == {"days_left": 10}
    # The decision that caused the send, for delivery's status events to point back to.
    assert data["decision"].startswith("workspaces/default/decisions/")
    assert sent.source == "workspaces/default/triggers/renewal-due"
    assert delivery.keys == ["trigger:renewal-due:evt-1", "trigger:renewal-due:evt-2"]
    # Consent was checked at decide time for the trigger's channel (by the pipeline's
    # consent step, in a batch: was CheckConsent before triggers went through the pipeline).
    assert consent_checks(fake_services) == [(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)] * 2
    # The watch asked for the signals triggers use, of the workspace, from the start.
    watch = fake_services.profile.watch_requests[0]
    assert watch.parent == "workspaces/default" and watch.start_cursor == ""
    assert set(watch.kinds) == {
        profile_pb.SIGNAL_KIND_EVENT_SEEN,
        profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
        profile_pb.SIGNAL_KIND_SEGMENT_ENTERED,
        profile_pb.SIGNAL_KIND_SEGMENT_EXITED,
        profile_pb.SIGNAL_KIND_LIFE_STAGE_CHANGED,
    }


def consent_checks(fake_services) -> list[tuple]:
    return [
        (r.customer, r.purpose, r.channel)
        for batch in fake_services.consent.batch_requests
        for r in batch.requests
    ]


async def test_non_matching_signals_send_nothing(serve, trigger_settings, fake_services):
    fake_services.profile.traits[BOB] = {}  # known, without consent
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
    assert [customer for customer, _, _ in consent_checks(fake_services)] == [BOB, ALICE]
    assert sentinel.cursor


async def test_restart_resumes_after_the_stored_cursor(
    serve, trigger_settings, fake_services, stored_cursor
):
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        second = await fake_services.emit_event(
            ALICE, EVENT, message_id="e2", properties={"days_left": 1}
        )
        await eventually(lambda: len(delivery.accepted) == 2)
        # Handled fully: the cursor is stored after the send.

        async def reached() -> bool:
            return await stored_cursor(trigger_settings) == second.cursor

        await eventually(reached)
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
    serve, trigger_settings, fake_services
):
    delivery = fake_services.delivery
    delivery.fail_with = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        await eventually(lambda: len(delivery.accepted) == 1)
    assert len(delivery.requests) == 3
    assert {r.idempotency_key for r in delivery.requests} == {"trigger:renewal-due:e1"}


async def test_permanent_delivery_error_skips_the_signal(serve, trigger_settings, fake_services):
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
    serve, trigger_settings, fake_services
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


async def test_consent_unavailable_is_retried(serve, trigger_settings, fake_services):
    fake_services.consent.unavailable = True
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        await eventually(lambda: len(fake_services.consent.batch_requests) >= 2)
        assert delivery.requests == []
        fake_services.consent.unavailable = False
        await eventually(lambda: len(delivery.accepted) == 1)


async def test_triggers_created_over_grpc_fire(serve, make_settings, fake_services, stored_cursor):
    from rapport.decisioning.v1 import decisioning_service_pb2 as pb

    fake_services.consent.grant(ALICE, "service", channel_pb2.CHANNEL_SMS)
    fake_services.profile.traits[ALICE] = {}
    settings = make_settings(triggers_enabled=True)
    async with serve(settings) as stub:
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
        # Triggers use the live version: nothing fires before the draft is published.
        early = await fake_services.emit_event(ALICE, "Signed Up", message_id="s0")
        await eventually(at_cursor(stored_cursor, settings, early.cursor))
        await publish(stub)
        await fake_services.emit_event(ALICE, "Signed Up", message_id="s1")
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
    sent = fake_services.delivery.accepted[0]
    assert sent.channel == channel_pb2.CHANNEL_SMS
    assert sent.idempotency_key == "trigger:welcome:s1"
    # Deliberate change: an unknown profile used to fire the condition-free trigger; now
    # only known customers get anything (Alice has a profile here). Asked once, for s1.
    assert fake_services.profile.get_profile_calls == 1


# -- one bad signal never stops the triggers --------------------------------------------

TRIGGER = "workspaces/default/triggers/renewal-due"
RUNNER = "rapport.decisioning.service_layer.trigger_runner"


def passed_over(caplog: pytest.LogCaptureFixture) -> list[tuple]:
    return [
        (r.workspace, r.trigger, r.cursor, r.error_reason, r.count)
        for r in caplog.records
        if r.name == RUNNER and r.getMessage() == "signal passed over"
    ]


def at_cursor(stored_cursor, settings, cursor: str):
    async def reached() -> bool:
        return await stored_cursor(settings) == cursor

    return reached


async def test_an_unreadable_signal_is_passed_over_and_the_next_one_fires(
    serve, trigger_settings, fake_services, stored_cursor, caplog
):
    caplog.set_level(logging.WARNING, RUNNER)
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        # NaN cannot be converted: the stream used to stop on it for good.
        poison = await fake_services.emit_event(
            ALICE, EVENT, message_id="poison", properties={"days_left": 1, "x": math.nan}
        )
        good = await fake_services.emit_event(
            ALICE, EVENT, message_id="good", properties={"days_left": 1}
        )
        await eventually(lambda: len(delivery.accepted) == 1)
        await eventually(at_cursor(stored_cursor, trigger_settings, good.cursor))
    assert delivery.keys == ["trigger:renewal-due:good"]
    assert passed_over(caplog) == [("default", "", poison.cursor, "UNREADABLE_EVENT", 1)]
    # Nothing was asked about the unreadable event.
    assert fake_services.profile.get_profile_calls == 1


async def test_a_restart_resumes_after_the_poison(
    serve, trigger_settings, fake_services, stored_cursor
):
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        poison = await fake_services.emit_event(
            ALICE, EVENT, message_id="poison", properties={"days_left": math.inf}
        )
        await eventually(at_cursor(stored_cursor, trigger_settings, poison.cursor))
    async with serve(trigger_settings):
        await eventually(lambda: len(fake_services.profile.watch_requests) == 2)
        assert fake_services.profile.watch_requests[1].start_cursor == poison.cursor
        await fake_services.emit_event(ALICE, EVENT, message_id="good", properties={"days_left": 1})
        await eventually(lambda: len(delivery.accepted) == 1)
    assert delivery.keys == ["trigger:renewal-due:good"]


async def test_a_profile_that_cannot_be_converted_passes_over_that_customer_only(
    serve, trigger_settings, fake_services, stored_cursor, caplog
):
    caplog.set_level(logging.WARNING, RUNNER)
    fake_services.profile.traits[ALICE] = {"first_name": struct_pb2.Value(number_value=math.nan)}
    fake_services.profile.traits[BOB] = {"first_name": "Bob"}
    fake_services.consent.grant(BOB, "marketing", channel_pb2.CHANNEL_EMAIL)
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        poison = await fake_services.emit_event(ALICE, EVENT, properties={"days_left": 1})
        good = await fake_services.emit_event(
            BOB, EVENT, message_id="bob", properties={"days_left": 1}
        )
        await eventually(lambda: len(delivery.accepted) == 1)
        await eventually(at_cursor(stored_cursor, trigger_settings, good.cursor))
    assert delivery.keys == ["trigger:renewal-due:bob"]
    assert passed_over(caplog) == [
        ("default", TRIGGER, poison.cursor, "profile:UNCONVERTIBLE_VALUE", 1)
    ]


async def test_a_transient_profile_failure_is_still_retried(
    serve, trigger_settings, fake_services, caplog
):
    caplog.set_level(logging.WARNING, RUNNER)
    fake_services.profile.fail_get_with = [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ]
    delivery = fake_services.delivery
    async with serve(trigger_settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        await eventually(lambda: len(delivery.accepted) == 1)
    assert fake_services.profile.get_profile_calls == 3
    assert passed_over(caplog) == []


async def test_signals_profile_could_not_stream_are_counted_in_the_log(
    serve, trigger_settings, fake_services, caplog
):
    caplog.set_level(logging.WARNING, RUNNER)
    fake_services.profile.skipped_before["c000001"] = 3
    async with serve(trigger_settings):
        first = await fake_services.emit_event(ALICE, EVENT, properties={"days_left": 1})
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
    reported = [
        (r.workspace, r.cursor, r.count)
        for r in caplog.records
        if r.getMessage() == "profile passed over signals it could not stream"
    ]
    assert reported == [("default", first.cursor, 3)]


async def test_a_stream_failing_at_one_position_is_reported_not_spun(
    serve, trigger_settings, fake_services, caplog
):
    caplog.set_level(logging.WARNING, RUNNER)
    # A signal over decisioning's own message limit: the stream fails on it each time.
    settings = trigger_settings.model_copy(update={"max_message_bytes": 64 * 1024})
    async with serve(settings):
        await fake_services.emit_event(ALICE, EVENT, properties={"blob": "x" * 100_000})

        def stuck() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.getMessage().startswith("trigger runner stuck")]

        await eventually(stuck, timeout=10)
    record = stuck()[0]
    assert record.levelno == logging.ERROR
    assert (record.workspace, record.cursor, record.code, record.error_reason) == (
        "default",
        "",
        "RESOURCE_EXHAUSTED",
        "MESSAGE_TOO_LARGE",
    )
    assert record.attempt == STUCK_AFTER
    assert len(fake_services.profile.watch_requests) >= STUCK_AFTER
    assert fake_services.delivery.requests == []


# -- a profile behind the real runtime, authentication on ------------------------------

PROFILE_SERVICE = profile_pb.DESCRIPTOR.services_by_name["ProfileService"].full_name
TOKEN = "decisioning-token"


@pytest.fixture
async def guarded_profile(fake_services):
    """fake_services.profile served by rapport.grpcserver.start: tokens required."""
    parts = ServiceParts(
        register=[
            lambda server: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(
                fake_services.profile, server
            )
        ],
        service_names=[PROFILE_SERVICE],
        error_domain="profile.rapport.dev",
        method_scopes={
            f"/{PROFILE_SERVICE}/WatchSignals": "profile.watch",
            f"/{PROFILE_SERVICE}/GetProfile": "profile.read",
        },
    )
    grant = {"scopes": ["profile.watch", "profile.read"], "workspaces": ["default"]}
    settings = ServiceSettings(host="127.0.0.1", port=0, auth_tokens={TOKEN: grant})
    running = await start(parts, settings)
    try:
        yield running.address
    finally:
        await running.stop(grace=0, drain=0)


async def test_the_outbound_token_opens_the_signal_stream(
    serve, trigger_settings, fake_services, guarded_profile
):
    settings = trigger_settings.model_copy(
        update={"profile_address": guarded_profile, "outbound_token": TOKEN}
    )
    async with serve(settings):
        await fake_services.emit_event(ALICE, EVENT, message_id="e1", properties={"days_left": 1})
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
    assert fake_services.delivery.keys == ["trigger:renewal-due:e1"]
    assert fake_services.profile.watch_requests[0].parent == "workspaces/default"
    assert fake_services.profile.get_profile_calls == 1


async def test_without_the_token_the_stream_is_refused(
    serve, trigger_settings, fake_services, guarded_profile, caplog
):
    caplog.set_level(logging.WARNING, RUNNER)
    settings = trigger_settings.model_copy(update={"profile_address": guarded_profile})
    async with serve(settings):
        await fake_services.emit_event(ALICE, EVENT, properties={"days_left": 1})

        def refused() -> list[str]:
            return [r.code for r in caplog.records if r.getMessage() == "signal stream broken"]

        await eventually(refused)
    assert refused()[0] == "UNAUTHENTICATED"
    assert fake_services.profile.watch_requests == []
    assert fake_services.delivery.requests == []
