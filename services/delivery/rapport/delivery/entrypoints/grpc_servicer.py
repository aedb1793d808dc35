"""DeliveryService over gRPC: protobuf -> command, the use case, result -> protobuf."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from rapport.delivery.service_layer import (
    inbox,
    messages,
    provider_events,
    subject_requests,
    templates,
)
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc

from . import converters
from . import loop_converters as lc
from . import template_converters as tc


class DeliveryServicer(pb_grpc.DeliveryServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.Message:
        command = converters.send_message_command(request)
        return converters.message_to_proto(await messages.send_message(command, self._deps))

    async def BatchSendMessages(
        self, request: pb.BatchSendMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchSendMessagesResponse:
        command = converters.batch_send_messages_command(request)
        return converters.batch_send_messages_to_proto(
            await messages.batch_send_messages(command, self._deps)
        )

    async def GetMessage(
        self, request: pb.GetMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.Message:
        command = converters.get_message_command(request)
        return converters.message_to_proto(await messages.get_message(command, self._deps))

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMessagesResponse:
        command = converters.list_messages_command(request)
        return converters.message_page_to_proto(await messages.list_messages(command, self._deps))

    async def RetryMessage(
        self, request: pb.RetryMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.Message:
        command = converters.retry_message_command(request)
        return converters.message_to_proto(await messages.retry_message(command, self._deps))

    async def GetInboxMessage(
        self, request: pb.GetInboxMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.InboxMessage:
        command = converters.get_inbox_message_command(request)
        return converters.inbox_message_to_proto(await inbox.get_inbox_message(command, self._deps))

    async def ListInboxMessages(
        self, request: pb.ListInboxMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInboxMessagesResponse:
        command = converters.list_inbox_messages_command(request)
        return converters.inbox_page_to_proto(await inbox.list_inbox_messages(command, self._deps))

    async def MarkInboxMessageRead(
        self, request: pb.MarkInboxMessageReadRequest, context: grpc.aio.ServicerContext
    ) -> pb.InboxMessage:
        command = converters.mark_inbox_message_read_command(request)
        return converters.inbox_message_to_proto(
            await inbox.mark_inbox_message_read(command, self._deps)
        )

    async def CreateTemplate(
        self, request: pb.CreateTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.Template:
        command = tc.create_template_command(request)
        return tc.template_to_proto(await templates.create_template(command, self._deps))

    async def GetTemplate(
        self, request: pb.GetTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.Template:
        command = tc.get_template_command(request)
        return tc.template_to_proto(await templates.get_template(command, self._deps))

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTemplatesResponse:
        command = tc.list_templates_command(request)
        return tc.template_page_to_proto(await templates.list_templates(command, self._deps))

    async def UpdateTemplate(
        self, request: pb.UpdateTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.Template:
        command = tc.update_template_command(request)
        return tc.template_to_proto(await templates.update_template(command, self._deps))

    async def DeleteTemplate(
        self, request: pb.DeleteTemplateRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        command = tc.delete_template_command(request)
        await templates.delete_template(command, self._deps)
        return empty_pb2.Empty()

    async def RenderTemplate(
        self, request: pb.RenderTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenderTemplateResponse:
        command = tc.render_template_command(request)
        return tc.rendered_to_proto(await templates.render_template(command, self._deps))

    async def ReportProviderEvent(
        self, request: pb.ReportProviderEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportProviderEventResponse:
        command = lc.report_provider_event_command(request)
        return lc.event_report_to_proto(
            await provider_events.report_provider_event(command, self._deps)
        )

    async def ExportCustomerMessages(
        self, request: pb.ExportCustomerMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportCustomerMessagesResponse:
        command = lc.export_command(request)
        return lc.export_page_to_proto(
            await subject_requests.export_customer_messages(command, self._deps)
        )

    async def EraseCustomerMessages(
        self, request: pb.EraseCustomerMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.EraseCustomerMessagesResponse:
        command = lc.erase_command(request)
        return lc.erasure_to_proto(
            await subject_requests.erase_customer_messages(command, self._deps)
        )
