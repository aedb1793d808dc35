"""Protobuf <-> commands and domain results for DeliveryService."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from rapport.delivery.domain.model import Channel, Message, MessageContent
from rapport.delivery.domain.values import whole_numbers_as_ints
from rapport.delivery.service_layer import commands
from rapport.delivery.service_layer.messages import MessagePage
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.errors import InvalidArgument
from rapport.type.v1 import channel_pb2, message_content_pb2

_CHANNEL_PREFIX = "CHANNEL_"
_STATE_PREFIX = "MESSAGE_STATE_"


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def channel_from_proto(value: int, *, field: str) -> Channel | None:
    """None when unspecified. Proto3 enums are open: a number the contract does not
    define cannot be decoded, and is refused naming the field."""
    if value == channel_pb2.CHANNEL_UNSPECIFIED:
        return None
    try:
        return Channel(channel_pb2.Channel.Name(value).removeprefix(_CHANNEL_PREFIX))
    except ValueError:
        raise InvalidArgument(field, f"{value} is not a known channel") from None


def channel_to_proto(channel: Channel) -> channel_pb2.Channel.ValueType:
    return channel_pb2.Channel.Value(_CHANNEL_PREFIX + channel.value)


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _struct(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    if kind is None or kind == "null_value":
        return None
    return getattr(value, kind)


def _struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: _value(item) for key, item in struct.fields.items()}


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """JSON values, whole numbers as ints. Non-finite numbers are kept (validation refuses
    them, naming the field), where json_format.MessageToDict would raise."""
    return whole_numbers_as_ints(_struct(struct))  # type: ignore[no-any-return]


def content_from_proto(content: message_content_pb2.MessageContent) -> MessageContent:
    return MessageContent(
        subject=content.subject, text_body=content.text_body, html_body=content.html_body
    )


def send_message_command(request: pb.SendMessageRequest) -> commands.SendMessage:
    return commands.SendMessage(
        parent=request.parent,
        idempotency_key=request.idempotency_key,
        customer=request.customer,
        purpose=request.purpose,
        channel=channel_from_proto(request.channel, field="channel"),
        content=content_from_proto(request.content),
        data=struct_to_dict(request.data),
        source=request.source,
    )


def get_message_command(request: pb.GetMessageRequest) -> commands.GetMessage:
    return commands.GetMessage(name=request.name)


def list_messages_command(request: pb.ListMessagesRequest) -> commands.ListMessages:
    return commands.ListMessages(
        parent=request.parent,
        page_size=request.page_size,
        page_token=request.page_token,
        customer=request.customer,
    )


def message_to_proto(message: Message) -> pb.Message:
    return pb.Message(
        name=message.name,
        customer=message.customer,
        purpose=message.purpose,
        channel=channel_to_proto(message.channel),
        idempotency_key=message.idempotency_key,
        state=pb.MessageState.Value(_STATE_PREFIX + message.state.value),
        attempt_count=message.attempt_count,
        provider=message.provider,
        provider_message_id=message.provider_message_id,
        failure_reason=message.failure_reason,
        source=message.source,
        create_time=_timestamp(message.create_time),
        update_time=_timestamp(message.update_time),
        send_time=_timestamp(message.send_time),
    )


def message_page_to_proto(page: MessagePage) -> pb.ListMessagesResponse:
    return pb.ListMessagesResponse(
        messages=[message_to_proto(m) for m in page.messages],
        next_page_token=page.next_page_token,
    )
