"""Protobuf <-> commands and results of segments and life stage models."""

from __future__ import annotations

from rapport.profile.domain import names
from rapport.profile.domain.segments import LifeStage, LifeStageModel, Segment
from rapport.profile.service_layer import commands
from rapport.profile.service_layer.segments import Preview, SegmentMemberPage, SegmentPage
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.wellknowntypes import to_timestamp


def create_segment_command(request: pb.CreateSegmentRequest) -> commands.CreateSegment:
    return commands.CreateSegment(
        parent=request.parent,
        display_name=request.segment.display_name,
        rule=request.segment.rule,
        segment_id=request.segment_id,
    )


def update_segment_command(request: pb.UpdateSegmentRequest) -> commands.UpdateSegment:
    return commands.UpdateSegment(
        name=request.segment.name,
        display_name=request.segment.display_name,
        rule=request.segment.rule,
        update_mask=tuple(request.update_mask.paths),
    )


def segment_message(segment: Segment) -> pb.Segment:
    message = pb.Segment(
        name=names.segment_name(segment.workspace, segment.segment_id),
        display_name=segment.display_name,
        rule=segment.rule,
        time_dependent=segment.time_dependent,
        member_count=segment.member_count,
        create_time=to_timestamp(segment.create_time),
    )
    if segment.last_evaluation_time is not None:
        message.last_evaluation_time.CopyFrom(to_timestamp(segment.last_evaluation_time))
    if segment.next_evaluation_time is not None:
        message.next_evaluation_time.CopyFrom(to_timestamp(segment.next_evaluation_time))
    return message


def list_segments_response(page: SegmentPage) -> pb.ListSegmentsResponse:
    return pb.ListSegmentsResponse(
        segments=[segment_message(s) for s in page.segments],
        next_page_token=page.next_page_token,
    )


def list_segment_members_response(page: SegmentMemberPage) -> pb.ListSegmentMembersResponse:
    return pb.ListSegmentMembersResponse(
        members=[
            pb.SegmentMember(
                customer=names.customer_name(page.workspace, customer),
                enter_time=to_timestamp(enter_time),
            )
            for customer, enter_time in page.members
        ],
        next_page_token=page.next_page_token,
    )


def preview_response(preview: Preview) -> pb.PreviewSegmentResponse:
    return pb.PreviewSegmentResponse(
        member_count=preview.member_count,
        evaluated_count=preview.evaluated_count,
        sample_customers=[names.customer_name(preview.workspace, c) for c in preview.sample],
    )


def update_life_stage_model_command(
    request: pb.UpdateLifeStageModelRequest,
) -> commands.UpdateLifeStageModel:
    return commands.UpdateLifeStageModel(
        name=request.life_stage_model.name,
        stages=tuple(LifeStage(s.stage, s.rule) for s in request.life_stage_model.stages),
        update_mask=tuple(request.update_mask.paths),
    )


def life_stage_model_message(model: LifeStageModel) -> pb.LifeStageModel:
    message = pb.LifeStageModel(
        name=names.life_stage_model_name(model.workspace),
        stages=[pb.LifeStage(stage=s.stage, rule=s.rule) for s in model.stages],
    )
    if model.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(model.update_time))
    if model.last_evaluation_time is not None:
        message.last_evaluation_time.CopyFrom(to_timestamp(model.last_evaluation_time))
    if model.next_evaluation_time is not None:
        message.next_evaluation_time.CopyFrom(to_timestamp(model.next_evaluation_time))
    return message
