"""gRPC servicer: protobuf -> command, the use case with the dependencies, result -> protobuf."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2
from rapport.grpcserver import EncodedResponse
from rapport.profile.service_layer import (
    commands,
    computed_updates,
    groups,
    hygiene,
    ingestion,
    profile_listing,
    queries,
    signals,
    traits,
)
from rapport.profile.service_layer import computed_traits as computed_cases
from rapport.profile.service_layer import life_stages as life_stage_cases
from rapport.profile.service_layer import segments as segment_cases
from rapport.profile.service_layer import tracking_plans as plan_cases
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc

from . import (
    computed_converters,
    converters,
    hygiene_converters,
    listing_converters,
    segment_converters,
    tracking_converters,
    wire,
)


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
    ) -> EncodedResponse:
        # Serialized by deps.encoder when read, and kept so by the cache.
        body, _ = await queries.get_profile(commands.GetProfile(name=request.name), self._deps)
        return EncodedResponse(body)

    async def BatchGetProfiles(
        self, request: pb.BatchGetProfilesRequest, context: grpc.aio.ServicerContext
    ) -> EncodedResponse:
        command = commands.BatchGetProfiles(request.parent, tuple(request.names))
        answers = await queries.batch_get_profiles(command, self._deps)
        return EncodedResponse(wire.repeated_message_field(1, (body for body, _ in answers)))

    async def ListProfiles(
        self, request: pb.ListProfilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProfilesResponse:
        command = commands.ListProfiles(
            request.parent,
            request.page_size,
            request.page_token,
            request.has_trait,
            tuple(request.read_mask.paths),
        )
        page = await profile_listing.list_profiles(command, self._deps)
        return listing_converters.list_profiles_response(page)

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

    async def ExportProfile(
        self, request: pb.ExportProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportProfileResponse:
        command = commands.ExportProfile(request.name, request.page_size, request.page_token)
        export = await hygiene.export_profile(command, self._deps)
        return hygiene_converters.export_response(export)

    async def EraseProfile(
        self, request: pb.EraseProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.EraseProfileResponse:
        erased = await hygiene.erase_profile(commands.EraseProfile(request.name), self._deps)
        return hygiene_converters.erase_response(erased)

    async def GetDataHygienePolicy(
        self, request: pb.GetDataHygienePolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.DataHygienePolicy:
        command = commands.GetDataHygienePolicy(request.name)
        return hygiene_converters.policy_message(await hygiene.get_policy(command, self._deps))

    async def UpdateDataHygienePolicy(
        self, request: pb.UpdateDataHygienePolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.DataHygienePolicy:
        command = hygiene_converters.update_policy_command(request)
        return hygiene_converters.policy_message(await hygiene.update_policy(command, self._deps))

    async def ListInactiveProfiles(
        self, request: pb.ListInactiveProfilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInactiveProfilesResponse:
        command = commands.ListInactiveProfiles(
            request.parent, request.page_size, request.page_token
        )
        page = await hygiene.list_inactive(command, self._deps)
        return hygiene_converters.inactive_response(page)

    # -- segments and life stages -------------------------------------------------

    async def CreateSegment(
        self, request: pb.CreateSegmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Segment:
        command = segment_converters.create_segment_command(request)
        return segment_converters.segment_message(
            await segment_cases.create_segment(command, self._deps)
        )

    async def GetSegment(
        self, request: pb.GetSegmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Segment:
        segment = await segment_cases.get_segment(commands.GetSegment(request.name), self._deps)
        return segment_converters.segment_message(segment)

    async def ListSegments(
        self, request: pb.ListSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSegmentsResponse:
        command = commands.ListSegments(request.parent, request.page_size, request.page_token)
        page = await segment_cases.list_segments(command, self._deps)
        return segment_converters.list_segments_response(page)

    async def UpdateSegment(
        self, request: pb.UpdateSegmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Segment:
        command = segment_converters.update_segment_command(request)
        return segment_converters.segment_message(
            await segment_cases.update_segment(command, self._deps)
        )

    async def DeleteSegment(
        self, request: pb.DeleteSegmentRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await segment_cases.delete_segment(commands.DeleteSegment(request.name), self._deps)
        return empty_pb2.Empty()

    async def ListSegmentMembers(
        self, request: pb.ListSegmentMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSegmentMembersResponse:
        command = commands.ListSegmentMembers(
            request.segment, request.page_size, request.page_token
        )
        page = await segment_cases.list_segment_members(command, self._deps)
        return segment_converters.list_segment_members_response(page)

    async def PreviewSegment(
        self, request: pb.PreviewSegmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreviewSegmentResponse:
        command = commands.PreviewSegment(request.parent, request.rule, request.sample_size)
        preview = await segment_cases.preview_segment(command, self._deps)
        return segment_converters.preview_response(preview)

    async def GetLifeStageModel(
        self, request: pb.GetLifeStageModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.LifeStageModel:
        command = commands.GetLifeStageModel(request.name)
        model = await life_stage_cases.get_life_stage_model(command, self._deps)
        return segment_converters.life_stage_model_message(model)

    async def UpdateLifeStageModel(
        self, request: pb.UpdateLifeStageModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.LifeStageModel:
        command = segment_converters.update_life_stage_model_command(request)
        model = await life_stage_cases.update_life_stage_model(command, self._deps)
        return segment_converters.life_stage_model_message(model)

    # -- tracking plans -----------------------------------------------------------

    async def CreateTrackingPlan(
        self, request: pb.CreateTrackingPlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.TrackingPlan:
        command = tracking_converters.create_command(request)
        plan = await plan_cases.create_tracking_plan(command, self._deps)
        return tracking_converters.plan_message(plan)

    async def GetTrackingPlan(
        self, request: pb.GetTrackingPlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.TrackingPlan:
        command = commands.GetTrackingPlan(request.name)
        plan = await plan_cases.get_tracking_plan(command, self._deps)
        return tracking_converters.plan_message(plan)

    async def ListTrackingPlans(
        self, request: pb.ListTrackingPlansRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTrackingPlansResponse:
        command = commands.ListTrackingPlans(request.parent, request.page_size, request.page_token)
        page = await plan_cases.list_tracking_plans(command, self._deps)
        return tracking_converters.list_response(page)

    async def UpdateTrackingPlan(
        self, request: pb.UpdateTrackingPlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.TrackingPlan:
        command = tracking_converters.update_command(request)
        plan = await plan_cases.update_tracking_plan(command, self._deps)
        return tracking_converters.plan_message(plan)

    async def DeleteTrackingPlan(
        self, request: pb.DeleteTrackingPlanRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await plan_cases.delete_tracking_plan(commands.DeleteTrackingPlan(request.name), self._deps)
        return empty_pb2.Empty()

    async def ListTrackingPlanRevisions(
        self, request: pb.ListTrackingPlanRevisionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTrackingPlanRevisionsResponse:
        command = commands.ListTrackingPlanRevisions(
            request.name, request.page_size, request.page_token
        )
        page = await plan_cases.list_tracking_plan_revisions(command, self._deps)
        return tracking_converters.revisions_response(page)

    async def ListTrackingPlanViolations(
        self, request: pb.ListTrackingPlanViolationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTrackingPlanViolationsResponse:
        command = commands.ListTrackingPlanViolations(
            request.parent, request.page_size, request.page_token
        )
        page = await plan_cases.list_tracking_plan_violations(command, self._deps)
        return tracking_converters.violations_response(page)

    # -- computed traits ----------------------------------------------------------

    async def CreateComputedTrait(
        self, request: pb.CreateComputedTraitRequest, context: grpc.aio.ServicerContext
    ) -> pb.ComputedTrait:
        command = computed_converters.create_command(request)
        trait = await computed_cases.create_computed_trait(command, self._deps)
        return computed_converters.trait_message(trait)

    async def GetComputedTrait(
        self, request: pb.GetComputedTraitRequest, context: grpc.aio.ServicerContext
    ) -> pb.ComputedTrait:
        command = commands.GetComputedTrait(request.name)
        trait = await computed_cases.get_computed_trait(command, self._deps)
        return computed_converters.trait_message(trait)

    async def ListComputedTraits(
        self, request: pb.ListComputedTraitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListComputedTraitsResponse:
        command = commands.ListComputedTraits(request.parent, request.page_size, request.page_token)
        page = await computed_cases.list_computed_traits(command, self._deps)
        return computed_converters.list_response(page)

    async def UpdateComputedTrait(
        self, request: pb.UpdateComputedTraitRequest, context: grpc.aio.ServicerContext
    ) -> pb.ComputedTrait:
        command = computed_converters.update_command(request)
        trait = await computed_updates.update_computed_trait(command, self._deps)
        return computed_converters.trait_message(trait)

    async def DeleteComputedTrait(
        self, request: pb.DeleteComputedTraitRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        command = commands.DeleteComputedTrait(request.name)
        await computed_cases.delete_computed_trait(command, self._deps)
        return empty_pb2.Empty()

    async def GetBackfillJob(
        self, request: pb.GetBackfillJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.BackfillJob:
        job = await computed_cases.get_backfill_job(
            commands.GetBackfillJob(request.name), self._deps
        )
        return computed_converters.job_message(job)

    async def ListBackfillJobs(
        self, request: pb.ListBackfillJobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBackfillJobsResponse:
        command = commands.ListBackfillJobs(request.parent, request.page_size, request.page_token)
        jobs, token = await computed_cases.list_backfill_jobs(command, self._deps)
        return computed_converters.jobs_response(jobs, token)
