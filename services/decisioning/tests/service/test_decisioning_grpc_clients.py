"""The real outbound adapters against the fake gRPC servers."""

from __future__ import annotations

import asyncio
import math
from contextlib import aclosing

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from rapport.decisioning.adapters.consent_client import GrpcConsentClient
from rapport.decisioning.adapters.grpc_clients import (
    GrpcDeliveryClient,
    GrpcProfileClient,
    signal_from_proto,
)
from rapport.decisioning.domain.model import Channel, MessageContent
from rapport.decisioning.domain.outbound import (
    UNUSABLE_ANSWER,
    ConsentQuery,
    DependencyError,
    OutboundMessage,
)
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.type.v1 import channel_pb2

ALICE = "workspaces/default/customers/alice"


def message(**fields) -> OutboundMessage:
    values = {
        "workspace": "default",
        "idempotency_key": "k",
        "customer": ALICE,
        "purpose": "marketing",
        "channel": Channel.EMAIL,
        "content": MessageContent("s", "b"),
        "source": "workspaces/default/triggers/t",
    }
    values.update(fields)
    return OutboundMessage(**values)


@pytest.fixture
async def channel(fake_services):
    async with grpc.aio.insecure_channel(fake_services.address) as opened:
        yield opened


async def test_traits_are_plain_values_and_missing_profiles_are_none(fake_services, channel):
    fake_services.profile.traits[ALICE] = {"age": 40, "tags": ["a"], "vip": True, "x": None}
    client = GrpcProfileClient(channel)
    profile = await client.get_profile(ALICE)
    assert profile is not None and profile.customer == ALICE
    assert profile.traits == {"age": 40.0, "tags": ["a"], "vip": True, "x": None}
    # What profile does not send yet is empty.
    assert (profile.computed_traits, profile.segments, profile.life_stage) == ({}, (), "")
    assert await client.get_profile("workspaces/default/customers/nobody") is None


async def test_watch_yields_signals_from_the_cursor(fake_services, channel):
    first = await fake_services.emit_event(ALICE, "A", properties={"n": 1})
    await fake_services.emit_event(ALICE, "B")
    client = GrpcProfileClient(channel)
    async with aclosing(client.watch_signals("default", first.cursor)) as signals:
        signal = await asyncio.wait_for(anext(signals), 5)
    assert signal.customer == ALICE
    assert signal.event is not None
    assert (signal.event.type, signal.event.name) == ("track", "B")
    assert fake_services.profile.watch_requests[0].start_cursor == first.cursor


def test_signals_without_an_event_have_none():
    signal = signal_from_proto(
        profile_pb.Signal(
            cursor="c9",
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            customer=ALICE,
            trait_changed=profile_pb.TraitChanged(key="plan"),
        )
    )
    assert signal.event is None and signal.cursor == "c9"


async def test_batches_are_split_at_the_service_limit(fake_services, channel):
    fake_services.consent.grant(ALICE, "p1", channel_pb2.CHANNEL_SMS)
    queries = [ConsentQuery(ALICE, f"p{i}", Channel.SMS) for i in range(1500)]
    answers = await GrpcConsentClient(channel).batch_check("default", queries)
    assert [len(r.requests) for r in fake_services.consent.batch_requests] == [1000, 500]
    assert answers[1] is True and answers.count(True) == 1 and len(answers) == 1500


async def test_errors_carry_code_and_reason(fake_services, channel):
    status = status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message="reused")
    info = error_details_pb2.ErrorInfo(reason="IDEMPOTENCY_KEY_REUSED", domain="d")
    status.details.add().Pack(info)
    fake_services.delivery.fail_with = [rpc_status.to_status(status)]
    message = OutboundMessage(
        workspace="default",
        idempotency_key="k",
        customer=ALICE,
        purpose="marketing",
        channel=Channel.EMAIL,
        content=MessageContent("s", "b"),
        source="workspaces/default/triggers/t",
        data={"event": {"when": timestamp_pb2.Timestamp(seconds=1).ToJsonString()}},
    )
    with pytest.raises(DependencyError) as caught:
        await GrpcDeliveryClient(channel).send(message)
    assert caught.value.code == "FAILED_PRECONDITION"
    assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"
    assert not caught.value.transient

    fake_services.consent.unavailable = True
    with pytest.raises(DependencyError) as caught:
        await GrpcConsentClient(channel).check(ConsentQuery(ALICE, "p", Channel.EMAIL))
    assert caught.value.code == "UNAVAILABLE" and caught.value.transient


async def test_a_malformed_customer_is_a_permanent_profile_error(fake_services, channel):
    with pytest.raises(DependencyError) as caught:
        await GrpcProfileClient(channel).get_profile("alice")
    assert caught.value.code == "INVALID_ARGUMENT" and not caught.value.transient
    assert fake_services.profile.get_profile_calls == 0


# -- answers that cannot be used are definite errors, never crashes -----------------------


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def test_traits_that_cannot_be_converted_are_a_definite_error(fake_services, channel):
    fake_services.profile.traits[ALICE] = {"score": struct_pb2.Value(number_value=math.nan)}
    with pytest.raises(DependencyError) as caught:
        await GrpcProfileClient(channel).get_profile(ALICE)
    assert caught.value.code == UNUSABLE_ANSWER and not caught.value.transient
    assert caught.value.reason == "UNCONVERTIBLE_VALUE"


@pytest.mark.parametrize(
    "properties",
    [{"price": math.nan}, {"price": -math.inf}, nested(33)],
    ids=["nan", "infinity", "33-deep"],
)
def test_a_signal_whose_event_cannot_be_converted_is_unreadable(properties):
    event = profile_pb.Event(type=profile_pb.EVENT_TYPE_TRACK, event="E", message_id="m")
    event.properties.update(properties)
    signal = signal_from_proto(
        profile_pb.Signal(
            cursor="c7", customer=ALICE, event_seen=profile_pb.EventSeen(event=event)
        ),
        skipped_before=2,
    )
    assert (signal.cursor, signal.customer, signal.event) == ("c7", ALICE, None)
    assert signal.unreadable == "UNREADABLE_EVENT"
    assert signal.skipped_before == 2


async def test_a_message_over_the_size_limit_is_a_definite_error(fake_services):
    limited = [("grpc.max_send_message_length", 10_000)]
    async with grpc.aio.insecure_channel(fake_services.address, options=limited) as small:
        with pytest.raises(DependencyError) as caught:
            await GrpcDeliveryClient(small).send(message(data={"blob": "x" * 20_000}))
    assert caught.value.code == "RESOURCE_EXHAUSTED"
    assert caught.value.reason == "MESSAGE_TOO_LARGE" and not caught.value.transient
    assert fake_services.delivery.requests == []


async def test_data_too_deep_to_send_is_a_definite_error(fake_services, channel):
    with pytest.raises(DependencyError) as caught:
        await GrpcDeliveryClient(channel).send(message(data={"event": nested(32)}))
    assert caught.value.code == "INVALID_ARGUMENT" and not caught.value.transient
    assert caught.value.reason == "UNSENDABLE_DATA"
    assert fake_services.delivery.requests == []


async def test_quota_exhaustion_stays_transient(fake_services, channel):
    fake_services.delivery.fail_with = [grpc.StatusCode.RESOURCE_EXHAUSTED]
    with pytest.raises(DependencyError) as caught:
        await GrpcDeliveryClient(channel).send(message())
    assert caught.value.code == "RESOURCE_EXHAUSTED" and caught.value.transient


async def test_a_response_without_a_cursor_only_adds_to_the_skipped_count(fake_services, channel):
    fake_services.profile.skipped_before[""] = 2
    await fake_services.profile.add_signal(profile_pb.Signal(cursor="", customer=ALICE))
    second = await fake_services.emit_event(ALICE, "B")
    fake_services.profile.skipped_before[second.cursor] = 1
    client = GrpcProfileClient(channel)
    async with aclosing(client.watch_signals("default", "")) as signals:
        signal = await asyncio.wait_for(anext(signals), 5)
    assert (signal.cursor, signal.skipped_before) == (second.cursor, 3)


# -- reads and checks asked at the same time go together ---------------------------


CUSTOMERS = [f"workspaces/default/customers/c{n}" for n in range(20)]


async def test_concurrent_profile_reads_share_one_batch_and_missing_ones_fail_alone(
    fake_services, channel
):
    for n, customer in enumerate(CUSTOMERS):
        fake_services.profile.traits[customer] = {"n": n}
    client = GrpcProfileClient(channel)
    found = await asyncio.gather(*(client.get_profile(c) for c in [*CUSTOMERS, CUSTOMERS[0]]))
    assert [p.traits["n"] for p in found] == [*range(20), 0]
    assert [len(r.names) for r in fake_services.profile.batch_get_requests] == [20]
    assert fake_services.profile.get_profile_calls == 0

    # One customer without profile: the batch is refused whole, then asked one by one.
    nobody = "workspaces/default/customers/nobody"
    found = await asyncio.gather(*(client.get_profile(c) for c in [CUSTOMERS[1], nobody]))
    assert found[0] is not None and found[0].traits["n"] == 1 and found[1] is None
    assert fake_services.profile.get_profile_calls == 2

    # A transient failure reaches every reader of the batch.
    fake_services.profile.fail_get_with = [grpc.StatusCode.UNAVAILABLE]
    failed = await asyncio.gather(
        *(client.get_profile(c) for c in CUSTOMERS[:3]), return_exceptions=True
    )
    assert all(isinstance(f, DependencyError) and f.transient for f in failed)


async def test_an_older_profile_without_batch_reads_is_asked_one_by_one(fake_services, channel):
    for customer in CUSTOMERS[:5]:
        fake_services.profile.traits[customer] = {"plan": "gold"}
    fake_services.profile.batch_get = False
    client = GrpcProfileClient(channel)
    for _ in range(2):
        found = await asyncio.gather(*(client.get_profile(c) for c in CUSTOMERS[:5]))
        assert [p.customer for p in found] == CUSTOMERS[:5]
    # Asked once, then remembered.
    assert len(fake_services.profile.batch_get_requests) == 1
    assert fake_services.profile.get_profile_calls == 10


async def test_concurrent_consent_checks_share_one_batch_with_their_own_answers(
    fake_services, channel
):
    for customer in CUSTOMERS[::2]:
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    client = GrpcConsentClient(channel)
    asks = [
        [ConsentQuery(c, "marketing", Channel.EMAIL), ConsentQuery(c, "service", Channel.SMS)]
        for c in CUSTOMERS
    ]
    answers = await asyncio.gather(*(client.batch_check("default", q) for q in asks))
    assert answers == [[n % 2 == 0, False] for n in range(20)]
    assert [len(r.requests) for r in fake_services.consent.batch_requests] == [40]


async def test_a_check_consent_refuses_fails_its_caller_alone(fake_services, channel):
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    client = GrpcConsentClient(channel)
    good = [ConsentQuery(ALICE, "marketing", Channel.EMAIL)]
    bad = [ConsentQuery(ALICE, "marketing", Channel.INBOUND)]  # consent refuses it
    answers = await asyncio.gather(
        client.batch_check("default", good),
        client.batch_check("default", bad),
        client.batch_check("default", good),
        return_exceptions=True,
    )
    assert answers[0] == [True] and answers[2] == [True]
    assert isinstance(answers[1], DependencyError) and not answers[1].transient
