"""gRPC servicer: protobuf -> command, the use case with the dependencies, result -> protobuf."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from rapport.profile.service_layer import commands, ingestion, queries, signals
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc

from . import converters


class ProfileServicer(profile_service_pb2_grpc.ProfileServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def IngestEvents(
        self, request: pb.IngestEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.IngestEventsResponse:
        command = converters.ingest_events_command(request, self._deps.ingest_limits)
        results = await ingestion.ingest_events(command, self._deps)
        return converters.ingest_events_response(results)

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.Profile:
        view = await queries.get_profile(commands.GetProfile(name=request.name), self._deps)
        return converters.profile_message(view)

    async def GetEvent(
        self, request: pb.GetEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.Event:
        event = await queries.get_event(commands.GetEvent(name=request.name), self._deps)
        return converters.event_message(event)

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        page = await queries.list_events(converters.list_events_command(request), self._deps)
        return converters.event_page_response(page)

    async def WatchSignals(
        self, request: pb.WatchSignalsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchSignalsResponse]:
        command = converters.watch_signals_command(request)
        # The responses come encoded (by converters.ProtobufEncoder) and measured.
        async for response in await signals.watch_signals(command, self._deps):
            yield response
