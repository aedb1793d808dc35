"""Protobuf conversions, both ways: requests (converters) and profile replies (profile_client)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf import struct_pb2
from rapport.delivery.adapters.profile_client import traits_from_proto
from rapport.delivery.adapters.upstream import UpstreamUnreadable
from rapport.delivery.domain.model import Channel, Message, MessageContent
from rapport.delivery.domain.validation import MAX_DATA_BYTES, in_batch, validate_batch_size
from rapport.delivery.entrypoints.converters import (
    batch_send_messages_command,
    data_from_proto,
    message_to_proto,
)
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.errors import FailedPrecondition, InvalidArgument
from rapport.profile.v1 import profile_service_pb2
from rapport.type.v1 import channel_pb2

from .._delivery_support import nested_lists, nested_structs

NOW = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def test_whole_numbers_become_ints() -> None:
    data = struct_pb2.Struct()
    data.update({"a": 1.0, "b": [2.0, 2.5], "c": "x", "d": 1e300})
    assert data_from_proto(data) == {
        "a": 1,
        "b": [2, 2.5],
        "c": "x",
        "d": 1e300,
    }


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_data_is_refused_with_its_path(number: float) -> None:
    data = struct_pb2.Struct()
    data.fields["offer"].struct_value.fields["prices"].list_value.values.add(number_value=number)
    with pytest.raises(InvalidArgument) as caught:
        data_from_proto(data)
    assert caught.value.field == "data.offer.prices[0]"


def test_data_depth_is_bounded() -> None:
    assert data_from_proto(nested_structs(32)) is not None
    with pytest.raises(InvalidArgument) as caught:
        data_from_proto(nested_structs(33))
    assert caught.value.field == "data" + ".a" * 32


def test_data_size_is_bounded() -> None:
    data = struct_pb2.Struct()
    data.update({"big": "x" * MAX_DATA_BYTES})
    with pytest.raises(InvalidArgument) as caught:
        data_from_proto(data)
    assert caught.value.field == "data"


def _message(**overrides: Any) -> Message:
    message = Message.queue(
        id="m1",
        workspace="default",
        customer_id="c1",
        purpose="marketing",
        channel=Channel.EMAIL,
        idempotency_key="k",
        content=MessageContent("s", "t"),
        data={},
        source="",
        now=NOW,
    )
    return replace(message, **overrides)


def test_messages_to_proto() -> None:
    converted = message_to_proto(_message())
    assert (converted.channel, converted.state) == (
        channel_pb2.CHANNEL_EMAIL,
        pb.MESSAGE_STATE_QUEUED,
    )
    assert converted.create_time.ToDatetime(tzinfo=UTC) == NOW
    assert not converted.HasField("send_time")
    # Values a newer version stored, which this one does not know.
    unknown = message_to_proto(_message(channel=None, state=None, data=None))
    assert (unknown.channel, unknown.state) == (
        channel_pb2.CHANNEL_UNSPECIFIED,
        pb.MESSAGE_STATE_UNSPECIFIED,
    )
    assert unknown.name == "workspaces/default/messages/m1"


def _profile(**traits: struct_pb2.Value) -> profile_service_pb2.Profile:
    return profile_service_pb2.Profile(
        traits={key: profile_service_pb2.Trait(value=value) for key, value in traits.items()}
    )


def test_profile_traits_are_template_values() -> None:
    tags = struct_pb2.Value()
    tags.list_value.values.add(string_value="x")
    traits = traits_from_proto(
        _profile(
            email=struct_pb2.Value(string_value="a@b.com"),
            age=struct_pb2.Value(number_value=42),
            tags=tags,
            deep=nested_lists(31),
        )
    )
    assert (traits["email"], traits["age"], traits["tags"]) == ("a@b.com", 42, ["x"])
    assert isinstance(traits["age"], int)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (struct_pb2.Value(number_value=float("nan")), "traits.score.value"),
        (struct_pb2.Value(number_value=float("-inf")), "traits.score.value"),
        (nested_lists(33), "traits.score.value" + "[0]" * 32),
    ],
)
def test_unreadable_profile_traits(value: struct_pb2.Value, field: str) -> None:
    with pytest.raises(UpstreamUnreadable) as caught:
        traits_from_proto(_profile(email=struct_pb2.Value(string_value="a@b.com"), score=value))
    assert (caught.value.service, caught.value.field) == ("profile", field)


def test_a_batch_item_error_names_the_item() -> None:
    request = pb.BatchSendMessagesRequest(
        parent="workspaces/default",
        requests=[pb.SendMessageRequest(), pb.SendMessageRequest(channel=42)],  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidArgument) as caught:
        batch_send_messages_command(request)
    assert caught.value.field == "requests[1].channel"
    assert caught.value.metadata == {"field": "requests[1].channel"}


def test_batch_errors_keep_their_kind() -> None:
    bare = in_batch(InvalidArgument("", "is odd"), 3)
    assert isinstance(bare, InvalidArgument) and bare.field == "requests[3]"
    refused = in_batch(FailedPrecondition("IDEMPOTENCY_KEY_REUSED", "reused", {"m": "x"}), 4)
    assert isinstance(refused, FailedPrecondition)
    assert refused.reason == "IDEMPOTENCY_KEY_REUSED"
    assert refused.metadata == {"m": "x", "request_index": "4"}


@pytest.mark.parametrize(("count", "refused"), [(0, True), (1, False), (1000, False), (1001, True)])
def test_batch_size_bounds(count: int, refused: bool) -> None:
    if refused:
        with pytest.raises(InvalidArgument) as caught:
            validate_batch_size(count)
        assert caught.value.field == "requests"
    else:
        validate_batch_size(count)
