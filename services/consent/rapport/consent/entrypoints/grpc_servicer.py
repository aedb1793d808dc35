"""gRPC servicer: request -> command, handler, result -> response; nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from rapport.consent.entrypoints import converters
from rapport.consent.service_layer import handlers, subject_requests, watch
from rapport.consent.service_layer.dependencies import Dependencies
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc


class ConsentServicer(pb_grpc.ConsentServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def RecordConsent(  # noqa: N802 - gRPC method name
        self, request: pb.RecordConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConsentRecord:
        command = converters.record_consent_command(request)
        entry = await handlers.record_consent(command, self._deps)
        return converters.consent_record(entry)

    async def GetConsentRecord(  # noqa: N802
        self, request: pb.GetConsentRecordRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConsentRecord:
        command = converters.get_consent_record_command(request)
        entry = await handlers.get_consent_record(command, self._deps)
        return converters.consent_record(entry)

    async def ListConsentRecords(  # noqa: N802
        self, request: pb.ListConsentRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListConsentRecordsResponse:
        command = converters.list_consent_records_command(request)
        page = await handlers.list_consent_records(command, self._deps)
        return converters.list_consent_records_response(page)

    async def CheckConsent(  # noqa: N802
        self, request: pb.CheckConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckConsentResponse:
        command = converters.check_consent_command(request)
        decision = await handlers.check_consent(command, self._deps)
        return converters.check_consent_response(decision)

    async def BatchCheckConsent(  # noqa: N802
        self, request: pb.BatchCheckConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchCheckConsentResponse:
        command = converters.batch_check_consent_command(request)
        decisions = await handlers.batch_check_consent(command, self._deps)
        return converters.batch_check_consent_response(decisions)

    async def WatchConsentRecords(  # noqa: N802
        self, request: pb.WatchConsentRecordsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchConsentRecordsResponse]:
        command = converters.watch_consent_records_command(request)
        async for watched in await watch.watch_consent_records(command, self._deps):
            yield converters.watch_consent_records_response(watched)

    async def CreateDataSubjectRequest(  # noqa: N802
        self, request: pb.CreateDataSubjectRequestRequest, context: grpc.aio.ServicerContext
    ) -> pb.DataSubjectRequest:
        command = converters.create_data_subject_request_command(request)
        created = await subject_requests.create_data_subject_request(command, self._deps)
        return converters.data_subject_request(created)

    async def GetDataSubjectRequest(  # noqa: N802
        self, request: pb.GetDataSubjectRequestRequest, context: grpc.aio.ServicerContext
    ) -> pb.DataSubjectRequest:
        command = converters.get_data_subject_request_command(request)
        found = await subject_requests.get_data_subject_request(command, self._deps)
        return converters.data_subject_request(found, full=command.full)

    async def ListDataSubjectRequests(  # noqa: N802
        self, request: pb.ListDataSubjectRequestsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDataSubjectRequestsResponse:
        command = converters.list_data_subject_requests_command(request)
        page = await subject_requests.list_data_subject_requests(command, self._deps)
        return converters.list_data_subject_requests_response(page)
