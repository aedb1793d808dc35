"""Protobuf <-> commands and results of the closed loop (ReportProviderEvent) and of the
data subject requests (ExportCustomerMessages, EraseCustomerMessages)."""

from __future__ import annotations

from rapport.delivery.domain.status import EventOutcome, ProviderEvent
from rapport.delivery.service_layer import commands
from rapport.delivery.service_layer.provider_events import EventReport
from rapport.delivery.service_layer.subject_requests import Erasure, ExportPage
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.errors import InvalidArgument
from rapport.type.v1 import identifier_pb2, message_content_pb2
from rapport.wellknowntypes import dict_to_struct, to_datetime

from . import converters

_EVENT_PREFIX = "PROVIDER_EVENT_TYPE_"
_OUTCOME_PREFIX = "PROVIDER_EVENT_OUTCOME_"


def provider_event_from_proto(value: int, *, field: str = "type") -> ProviderEvent | None:
    if value == pb.PROVIDER_EVENT_TYPE_UNSPECIFIED:
        return None
    try:
        return ProviderEvent(pb.ProviderEventType.Name(value).removeprefix(_EVENT_PREFIX))
    except ValueError:
        raise InvalidArgument(field, f"{value} is not a known provider event type") from None


def report_provider_event_command(
    request: pb.ReportProviderEventRequest,
) -> commands.ReportProviderEvent:
    return commands.ReportProviderEvent(
        parent=request.parent,
        type=provider_event_from_proto(request.type),
        message=request.message,
        provider=request.provider,
        provider_message_id=request.provider_message_id,
        event_time=to_datetime(request, "event_time"),
        reason=request.reason,
    )


def event_report_to_proto(report: EventReport) -> pb.ReportProviderEventResponse:
    return pb.ReportProviderEventResponse(
        message=report.message,
        outcome=pb.ProviderEventOutcome.Value(_OUTCOME_PREFIX + EventOutcome(report.outcome).value),
    )


def export_command(
    request: pb.ExportCustomerMessagesRequest,
) -> commands.ExportCustomerMessages:
    return commands.ExportCustomerMessages(
        parent=request.parent, page_size=request.page_size, page_token=request.page_token
    )


def export_page_to_proto(page: ExportPage) -> pb.ExportCustomerMessagesResponse:
    items = []
    for exported in page.messages:
        message = exported.message
        items.append(
            pb.ExportedMessage(
                message=converters.message_to_proto(message),
                content=message_content_pb2.MessageContent(
                    subject=message.content.subject,
                    text_body=message.content.text_body,
                    html_body=message.content.html_body,
                ),
                data=dict_to_struct(message.data) if message.data is not None else None,
                recipient=message.recipient,
                identifiers=[
                    identifier_pb2.Identifier(type=kind, value=value)
                    for kind, value in message.identifiers
                ],
                inbox_message=(
                    converters.inbox_message_to_proto(exported.inbox_message)
                    if exported.inbox_message is not None
                    else None
                ),
            )
        )
    return pb.ExportCustomerMessagesResponse(messages=items, next_page_token=page.next_page_token)


def erase_command(request: pb.EraseCustomerMessagesRequest) -> commands.EraseCustomerMessages:
    return commands.EraseCustomerMessages(parent=request.parent)


def erasure_to_proto(erasure: Erasure) -> pb.EraseCustomerMessagesResponse:
    return pb.EraseCustomerMessagesResponse(
        erased_message_count=erasure.erased, cancelled_message_count=erasure.cancelled
    )
