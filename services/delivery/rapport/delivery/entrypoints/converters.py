"""Protobuf <-> commands and domain results for DeliveryService.

Well-known types go through rapport.wellknowntypes: a value that cannot be decoded
(NaN or Infinity in `data`, `data` nested more than 32 levels deep) is InvalidArgument
naming its path, e.g. `data.offer.price`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from rapport.delivery.domain.inbox import InboxMessage
from rapport.delivery.domain.model import (
    Channel,
    ChannelSelection,
    Message,
    MessageContent,
    MessageState,
    Priority,
)
from rapport.delivery.domain.validation import MAX_DATA_BYTES, in_batch
from rapport.delivery.service_layer import commands
from rapport.delivery.service_layer.inbox import InboxPage
from rapport.delivery.service_layer.messages import MessagePage
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.errors import InvalidArgument
from rapport.type.v1 import channel_pb2, message_content_pb2
from rapport.wellknowntypes import dict_to_struct, serialized_size, struct_to_dict, to_timestamp

_CHANNEL_PREFIX = "CHANNEL_"
_STATE_PREFIX = "MESSAGE_STATE_"
_PRIORITY_PREFIX = "MESSAGE_PRIORITY_"


def _known(names: dict[str, int], prefix: str, kind: Any) -> dict[int, Any]:
    """Number -> domain value, for every name of the contract the domain knows."""
    known = {}
    for name, number in names.items():
        try:
            known[number] = kind(name.removeprefix(prefix))
        except ValueError:
            continue
    return known


# Read on every message: looked up rather than spelled out through the enum wrappers.
_CHANNELS: dict[int, Channel] = _known(dict(channel_pb2.Channel.items()), _CHANNEL_PREFIX, Channel)
_CHANNEL_NUMBERS = {channel: number for number, channel in _CHANNELS.items()}
_STATE_NUMBERS = {
    state: number
    for number, state in _known(dict(pb.MessageState.items()), _STATE_PREFIX, MessageState).items()
}
_PRIORITY_NUMBERS = {
    priority: number
    for number, priority in _known(
        dict(pb.MessagePriority.items()), _PRIORITY_PREFIX, Priority
    ).items()
}


def optional_timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    return to_timestamp(value) if value is not None else None


def channel_from_proto(value: int, *, field: str) -> Channel | None:
    """None when unspecified. Proto3 enums are open: a number the contract does not
    define cannot be decoded, and is refused naming the field."""
    if value == channel_pb2.CHANNEL_UNSPECIFIED:
        return None
    channel = _CHANNELS.get(value)
    if channel is None:
        raise InvalidArgument(field, f"{value} is not a known channel")
    return channel


def channel_to_proto(channel: Channel | None) -> channel_pb2.Channel.ValueType:
    """CHANNEL_UNSPECIFIED for a stored channel this version does not know."""
    if channel is None:
        return channel_pb2.CHANNEL_UNSPECIFIED
    return _CHANNEL_NUMBERS[channel]  # type: ignore[return-value]


def state_to_proto(state: MessageState | None) -> pb.MessageState.ValueType:
    """MESSAGE_STATE_UNSPECIFIED for a stored state this version does not know."""
    if state is None:
        return pb.MESSAGE_STATE_UNSPECIFIED
    return _STATE_NUMBERS[state]  # type: ignore[return-value]


def priority_from_proto(value: int, *, field: str = "priority") -> Priority:
    """Unspecified is normal; a number the contract does not define is refused."""
    if value == pb.MESSAGE_PRIORITY_UNSPECIFIED:
        return Priority.NORMAL
    try:
        return Priority(pb.MessagePriority.Name(value).removeprefix(_PRIORITY_PREFIX))
    except ValueError:
        raise InvalidArgument(field, f"{value} is not a known priority") from None


def priority_to_proto(priority: Priority | None) -> pb.MessagePriority.ValueType:
    if priority is None:
        return pb.MESSAGE_PRIORITY_UNSPECIFIED
    return _PRIORITY_NUMBERS[priority]  # type: ignore[return-value]


def data_from_proto(data: struct_pb2.Struct, *, field: str = "data") -> dict[str, Any]:
    """Template data: JSON values, whole numbers as ints (templates print 42, not 42.0)."""
    if not data.fields:
        return {}  # what the checks below make of an empty Struct, read for most messages
    serialized_size(data, max_bytes=MAX_DATA_BYTES, field_path=field)
    return struct_to_dict(data, field_path=field, whole_numbers_as_ints=True)


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
        data=data_from_proto(request.data),
        source=request.source,
        template=request.template,
        best_channel=request.best_channel,
        candidate_channels=tuple(
            channel_from_proto(value, field=f"candidate_channels[{index}]")
            for index, value in enumerate(request.candidate_channels)
        ),
        priority=priority_from_proto(request.priority),
    )


def batch_send_messages_command(
    request: pb.BatchSendMessagesRequest,
) -> commands.BatchSendMessages:
    items: list[commands.SendMessage] = []
    for index, item in enumerate(request.requests):
        try:
            items.append(send_message_command(item))
        except InvalidArgument as err:
            raise in_batch(err, index) from None
    return commands.BatchSendMessages(parent=request.parent, requests=tuple(items))


def batch_send_messages_to_proto(messages: list[Message]) -> pb.BatchSendMessagesResponse:
    return pb.BatchSendMessagesResponse(messages=[message_to_proto(m) for m in messages])


def get_message_command(request: pb.GetMessageRequest) -> commands.GetMessage:
    if request.view not in pb.MessageView.values():
        raise InvalidArgument("view", f"{request.view} is not a known view")
    return commands.GetMessage(name=request.name, full=request.view == pb.MESSAGE_VIEW_FULL)


def list_messages_command(request: pb.ListMessagesRequest) -> commands.ListMessages:
    return commands.ListMessages(
        parent=request.parent,
        page_size=request.page_size,
        page_token=request.page_token,
        customer=request.customer,
        filter=request.filter,
    )


def retry_message_command(request: pb.RetryMessageRequest) -> commands.RetryMessage:
    return commands.RetryMessage(name=request.name)


def message_to_proto(message: Message) -> pb.Message:
    return pb.Message(
        name=message.name,
        customer=message.customer,
        purpose=message.purpose,
        channel=channel_to_proto(message.channel),
        idempotency_key=message.idempotency_key,
        state=state_to_proto(message.state),
        attempt_count=message.attempt_count,
        provider=message.provider,
        provider_message_id=message.provider_message_id,
        failure_reason=message.failure_reason,
        source=message.source,
        create_time=optional_timestamp(message.create_time),
        update_time=optional_timestamp(message.update_time),
        send_time=optional_timestamp(message.send_time),
        template=message.template,
        locale=message.locale,
        failure_detail=message.failure_detail,
        priority=priority_to_proto(message.priority),
        channel_selection=(
            selection_to_proto(message.selection) if message.selection is not None else None
        ),
        scheduled_time=optional_timestamp(message.scheduled_time),
        schedule_reason=message.schedule_reason,
        last_error=message.last_error,
        status_history=[
            pb.StatusChange(
                status=change.status,
                reason=change.reason,
                change_time=to_timestamp(change.time),
                reporter=change.reporter,
            )
            for change in message.history
        ],
        delivery_time=optional_timestamp(message.delivery_time),
        open_time=optional_timestamp(message.open_time),
        click_time=optional_timestamp(message.click_time),
        erase_time=optional_timestamp(message.erase_time),
        open_count=message.open_count,
        click_count=message.click_count,
    )


def selection_to_proto(selection: ChannelSelection) -> pb.ChannelSelection:
    return pb.ChannelSelection(
        candidate_channels=[channel_to_proto(c) for c in selection.candidate_channels],
        reason=selection.reason,
        explanation=selection.explanation,
        evaluations=[
            pb.ChannelEvaluation(
                channel=channel_to_proto(e.channel),
                status=e.status,
                preferred=e.preferred,
                cost_rank=e.cost_rank,
            )
            for e in selection.evaluations
        ],
        select_time=optional_timestamp(selection.select_time),
    )


def message_page_to_proto(page: MessagePage) -> pb.ListMessagesResponse:
    return pb.ListMessagesResponse(
        messages=[message_to_proto(m) for m in page.messages],
        next_page_token=page.next_page_token,
    )


def get_inbox_message_command(request: pb.GetInboxMessageRequest) -> commands.GetInboxMessage:
    return commands.GetInboxMessage(name=request.name)


def list_inbox_messages_command(
    request: pb.ListInboxMessagesRequest,
) -> commands.ListInboxMessages:
    return commands.ListInboxMessages(
        parent=request.parent,
        page_size=request.page_size,
        page_token=request.page_token,
        unread_only=request.unread_only,
    )


def mark_inbox_message_read_command(
    request: pb.MarkInboxMessageReadRequest,
) -> commands.MarkInboxMessageRead:
    return commands.MarkInboxMessageRead(name=request.name)


def inbox_message_to_proto(message: InboxMessage) -> pb.InboxMessage:
    return pb.InboxMessage(
        name=message.name,
        message=message.message,
        purpose=message.purpose,
        subject=message.subject,
        text_body=message.text_body,
        html_body=message.html_body,
        # Stored data that cannot be read back is shown as none.
        data=dict_to_struct(message.data) if message.data is not None else None,
        create_time=optional_timestamp(message.create_time),
        read_time=optional_timestamp(message.read_time),
    )


def inbox_page_to_proto(page: InboxPage) -> pb.ListInboxMessagesResponse:
    return pb.ListInboxMessagesResponse(
        inbox_messages=[inbox_message_to_proto(m) for m in page.inbox_messages],
        next_page_token=page.next_page_token,
    )
