"""gRPC implementations of the profile, consent and delivery clients.

They implement the service layer's client ports (service_layer.dependencies)
structurally and speak the other services' v1 contracts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from google.rpc import error_details_pb2, status_pb2
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Channel, Signal, TrackedEvent
from rapport.decisioning.domain.outbound import (
    ConsentQuery,
    DependencyError,
    OutboundMessage,
    SentMessage,
)
from rapport.delivery.v1 import delivery_service_pb2, delivery_service_pb2_grpc
from rapport.errors import InvalidArgument
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.type.v1 import channel_pb2, message_content_pb2

MAX_CONSENT_BATCH = 1000  # BatchCheckConsent's documented limit

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _error(service: str, err: grpc.aio.AioRpcError) -> DependencyError:
    code = err.code().name if err.code() is not None else "UNKNOWN"
    reason = ""
    raw = next((v for k, v in (err.trailing_metadata() or ()) if k == _STATUS_DETAILS_KEY), None)
    if isinstance(raw, bytes):
        try:
            status = status_pb2.Status.FromString(raw)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    reason = info.reason
                    break
        except Exception:  # details are advisory: a garbled trailer must not hide the code
            reason = ""
    return DependencyError(service, code, reason, err.details() or "")


def _struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def _dict_to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _event_type(value: int) -> str:
    name = profile_service_pb2.EventType.Name(value) if value in _EVENT_TYPES else ""
    return name.removeprefix("EVENT_TYPE_").lower()


_EVENT_TYPES = set(profile_service_pb2.EventType.values())


def signal_from_proto(signal: profile_service_pb2.Signal) -> Signal:
    event: TrackedEvent | None = None
    if signal.HasField("event_seen"):
        seen = signal.event_seen.event
        event = TrackedEvent(
            type=_event_type(seen.type),
            name=seen.event,
            message_id=seen.message_id,
            properties=_struct_to_dict(seen.properties),
            context=_struct_to_dict(seen.context),
        )
    return Signal(cursor=signal.cursor, customer=signal.customer, event=event)


class GrpcProfileClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = profile_service_pb2_grpc.ProfileServiceStub(channel)

    async def get_traits(self, customer: str) -> dict[str, Any] | None:
        try:
            name = names.profile_name(customer)
        except InvalidArgument as err:
            # A customer name profile itself would refuse: the same permanent failure.
            raise DependencyError("profile", "INVALID_ARGUMENT", "BAD_CUSTOMER_NAME") from err
        try:
            profile = await self._stub.GetProfile(profile_service_pb2.GetProfileRequest(name=name))
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise _error("profile", err) from err
        return {
            key: json_format.MessageToDict(trait.value) for key, trait in profile.traits.items()
        }

    async def watch_signals(self, workspace: str, start_cursor: str) -> AsyncIterator[Signal]:
        call = self._stub.WatchSignals(
            profile_service_pb2.WatchSignalsRequest(
                parent=names.workspace_name(workspace),
                start_cursor=start_cursor,
                kinds=[profile_service_pb2.SIGNAL_KIND_EVENT_SEEN],
            )
        )
        try:
            async for response in call:
                yield signal_from_proto(response.signal)
        except grpc.aio.AioRpcError as err:
            raise _error("profile", err) from err
        finally:
            call.cancel()


def channel_to_proto(channel: Channel) -> int:
    """The rapport.type.v1.Channel value of a channel (same names, CHANNEL_ prefix)."""
    return channel_pb2.Channel.Value(f"CHANNEL_{channel.name}")


def _check_request(query: ConsentQuery) -> consent_service_pb2.CheckConsentRequest:
    # No check_time: consent in force now.
    return consent_service_pb2.CheckConsentRequest(
        customer=query.customer, purpose=query.purpose, channel=channel_to_proto(query.channel)
    )


class GrpcConsentClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = consent_service_pb2_grpc.ConsentServiceStub(channel)

    async def check(self, query: ConsentQuery) -> bool:
        try:
            response = await self._stub.CheckConsent(_check_request(query))
        except grpc.aio.AioRpcError as err:
            raise _error("consent", err) from err
        return response.allowed

    async def batch_check(self, workspace: str, queries: Sequence[ConsentQuery]) -> list[bool]:
        answers: list[bool] = []
        for start in range(0, len(queries), MAX_CONSENT_BATCH):
            chunk = queries[start : start + MAX_CONSENT_BATCH]
            try:
                response = await self._stub.BatchCheckConsent(
                    consent_service_pb2.BatchCheckConsentRequest(
                        parent=names.workspace_name(workspace),
                        requests=[_check_request(q) for q in chunk],
                    )
                )
            except grpc.aio.AioRpcError as err:
                raise _error("consent", err) from err
            if len(response.responses) != len(chunk):
                raise DependencyError(
                    "consent", "INTERNAL", "BAD_RESPONSE", "answers do not match the checks"
                )
            answers.extend(r.allowed for r in response.responses)
        return answers


class GrpcDeliveryClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = delivery_service_pb2_grpc.DeliveryServiceStub(channel)

    async def send(self, message: OutboundMessage) -> SentMessage:
        request = delivery_service_pb2.SendMessageRequest(
            parent=names.workspace_name(message.workspace),
            idempotency_key=message.idempotency_key,
            customer=message.customer,
            purpose=message.purpose,
            channel=channel_to_proto(message.channel),
            content=message_content_pb2.MessageContent(
                subject=message.content.subject,
                text_body=message.content.text_body,
                html_body=message.content.html_body,
            ),
            data=_dict_to_struct(message.data),
            source=message.source,
        )
        try:
            sent = await self._stub.SendMessage(request)
        except grpc.aio.AioRpcError as err:
            raise _error("delivery", err) from err
        return SentMessage(
            name=sent.name,
            state=delivery_service_pb2.MessageState.Name(sent.state).removeprefix("MESSAGE_STATE_")
            if sent.state in delivery_service_pb2.MessageState.values()
            else str(sent.state),
        )
