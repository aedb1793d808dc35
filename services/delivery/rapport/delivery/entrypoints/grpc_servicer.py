"""DeliveryService over gRPC: protobuf <-> commands and domain results, nothing else."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import datetime

import grpc
from google.protobuf import json_format, timestamp_pb2
from rapport.delivery.domain.model import Message, MessageContent
from rapport.delivery.domain.values import whole_numbers_as_ints
from rapport.delivery.service_layer import commands, handlers
from rapport.delivery.service_layer.unit_of_work import UnitOfWorkFactory
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _channel_name(value: int) -> str:
    # Proto3 enums are open: an unknown number stays visible to validation.
    try:
        return pb.Channel.Name(value).removeprefix("CHANNEL_")
    except ValueError:
        return str(value)


def to_proto(message: Message) -> pb.Message:
    return pb.Message(
        name=message.name,
        customer=message.customer,
        purpose=message.purpose,
        channel=pb.Channel.Value(f"CHANNEL_{message.channel.value}"),
        idempotency_key=message.idempotency_key,
        state=pb.MessageState.Value(f"MESSAGE_STATE_{message.state.value}"),
        attempt_count=message.attempt_count,
        provider=message.provider,
        provider_message_id=message.provider_message_id,
        failure_reason=message.failure_reason,
        source=message.source,
        create_time=_timestamp(message.create_time),
        update_time=_timestamp(message.update_time),
        send_time=_timestamp(message.send_time),
    )


def payload_fingerprint(request: pb.SendMessageRequest) -> str:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


class DeliveryServicer(pb_grpc.DeliveryServiceServicer):
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        send_context: handlers.SendContext,
        workspaces: Collection[str],
    ) -> None:
        self._uow_factory = uow_factory
        self._send_context = send_context
        self._workspaces = workspaces

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.Message:
        command = commands.SendMessage(
            parent=request.parent,
            idempotency_key=request.idempotency_key,
            customer=request.customer,
            purpose=request.purpose,
            channel=_channel_name(request.channel),
            content=MessageContent(
                subject=request.content.subject,
                text_body=request.content.text_body,
                html_body=request.content.html_body,
            ),
            data=whole_numbers_as_ints(json_format.MessageToDict(request.data)),
            source=request.source,
            payload_fingerprint=payload_fingerprint(request),
        )
        message = await handlers.send_message(command, self._uow_factory, self._send_context)
        return to_proto(message)

    async def GetMessage(
        self, request: pb.GetMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.Message:
        message = await handlers.get_message(
            commands.GetMessage(name=request.name), self._uow_factory, self._workspaces
        )
        return to_proto(message)

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMessagesResponse:
        page, next_token = await handlers.list_messages(
            commands.ListMessages(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
                customer=request.customer,
            ),
            self._uow_factory,
            self._workspaces,
        )
        return pb.ListMessagesResponse(
            messages=[to_proto(m) for m in page], next_page_token=next_token
        )
