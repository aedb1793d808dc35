"""gRPC servicer: protobuf -> command, the use case with the dependencies, result -> protobuf."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from rapport.profile.service_layer import commands, groups, ingestion, queries, signals, traits
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

    async def RemoveTraits(
        self, request: pb.RemoveTraitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.Profile:
        command = commands.RemoveTraits(name=request.name, keys=tuple(request.keys))
        return converters.profile_message(await traits.remove_traits(command, self._deps))

    async def GetGroup(
        self, request: pb.GetGroupRequest, context: grpc.aio.ServicerContext
    ) -> pb.Group:
        view = await groups.get_group(commands.GetGroup(name=request.name), self._deps)
        return converters.group_message(view)

    async def ListGroups(
        self, request: pb.ListGroupsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGroupsResponse:
        command = commands.ListGroups(request.parent, request.page_size, request.page_token)
        return converters.list_groups_response(await groups.list_groups(command, self._deps))

    async def ListGroupMembers(
        self, request: pb.ListGroupMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGroupMembersResponse:
        command = commands.ListGroupMembers(request.group, request.page_size, request.page_token)
        page = await groups.list_group_members(command, self._deps)
        return converters.list_group_members_response(page)

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
