"""gRPC methods of probabilistic matching: protobuf <-> matching commands and results."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.errors import InvalidArgument
from rapport.identity.domain.deduplication import DeduplicationJob, MatchReview
from rapport.identity.matching import ATTRIBUTES
from rapport.identity.service_layer import matching_commands as commands
from rapport.identity.service_layer.handlers import CUSTOMER
from rapport.identity.service_layer.matching_jobs import Match, MatchingService
from rapport.identity.v1 import identity_service_pb2 as pb


class MatchingRpcs:
    """Mixed into the identity servicer; bootstrap sets ``matching``."""

    matching: MatchingService

    async def FindMatches(  # noqa: N802 (generated method name)
        self, request: pb.FindMatchesRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindMatchesResponse:
        subject = request.WhichOneof("subject")
        command = commands.FindMatches(
            parent=request.parent,
            customer=request.customer if subject == "customer" else "",
            record=(
                {name: getattr(request.record, name) for name in ATTRIBUTES}
                if subject == "record"
                else None
            ),
            max_results=request.max_results,
            min_probability=request.min_probability,
        )
        matches = await self.matching.find_matches(command)
        workspace = _workspace_of(request.parent)
        return pb.FindMatchesResponse(matches=[_match(match, workspace) for match in matches])

    async def CreateDeduplicationJob(  # noqa: N802
        self, request: pb.CreateDeduplicationJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeduplicationJob:
        thresholds = request.deduplication_job.thresholds
        job = await self.matching.create_job(
            commands.CreateDeduplicationJob(
                parent=request.parent,
                merge_threshold=thresholds.merge_threshold,
                review_threshold=thresholds.review_threshold,
            )
        )
        return _job(job, _workspace_of(request.parent))

    async def GetDeduplicationJob(  # noqa: N802
        self, request: pb.GetDeduplicationJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeduplicationJob:
        job = await self.matching.get_job(commands.GetDeduplicationJob(request.name))
        return _job(job, _workspace_of(request.name))

    async def ListDeduplicationJobs(  # noqa: N802
        self, request: pb.ListDeduplicationJobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeduplicationJobsResponse:
        page = await self.matching.list_jobs(
            commands.ListDeduplicationJobs(
                parent=request.parent, page_size=request.page_size, page_token=request.page_token
            )
        )
        workspace = _workspace_of(request.parent)
        return pb.ListDeduplicationJobsResponse(
            deduplication_jobs=[_job(job, workspace) for job in page.jobs],
            next_page_token=page.next_page_token,
        )

    async def ListMatchReviews(  # noqa: N802
        self, request: pb.ListMatchReviewsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMatchReviewsResponse:
        page = await self.matching.list_reviews(
            commands.ListMatchReviews(
                parent=request.parent,
                state=_enum_suffix(pb.ReviewState, request.state, "REVIEW_STATE_", field="state"),
                page_size=request.page_size,
                page_token=request.page_token,
            )
        )
        workspace = _workspace_of(request.parent)
        return pb.ListMatchReviewsResponse(
            match_reviews=[_review(review, workspace) for review in page.reviews],
            next_page_token=page.next_page_token,
        )

    async def ReviewMatch(  # noqa: N802
        self, request: pb.ReviewMatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.MatchReview:
        review = await self.matching.review_match(
            commands.ReviewMatch(
                name=request.name,
                decision=_enum_suffix(
                    pb.ReviewDecision, request.decision, "REVIEW_DECISION_", field="decision"
                ),
            )
        )
        return _review(review, _workspace_of(request.name))


def _workspace_of(name: str) -> str:
    # Only called after the handler validated the name.
    return name.split("/")[1]


def _enum_suffix(enum: object, number: int, prefix: str, *, field: str) -> str:
    """ "ACCEPT" for REVIEW_DECISION_ACCEPT; "" for the unspecified value."""
    if number == 0:
        return ""
    try:
        name: str = enum.Name(number)  # type: ignore[attr-defined]
    except ValueError as exc:
        raise InvalidArgument(field, "is not a known value") from exc
    return name.removeprefix(prefix)


def _timestamp(value: datetime) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromDatetime(value)
    return timestamp


def _match(match: Match, workspace: str) -> pb.Match:
    return pb.Match(
        customer=CUSTOMER.format(workspace=workspace, customer=match.customer_id),
        probability=match.probability,
        match_weight=match.match_weight,
        comparisons=[
            pb.AttributeComparison(attribute=attribute, level=level, bayes_factor=factor)
            for attribute, level, factor in match.comparisons
        ],
    )


def _job(job: DeduplicationJob, workspace: str) -> pb.DeduplicationJob:
    message = pb.DeduplicationJob(
        name=MatchingService.job_name(workspace, job.id),
        state=pb.JobState.Value(f"JOB_STATE_{job.state}"),
        progress=job.progress,
        thresholds=pb.MatchingThresholds(
            merge_threshold=job.thresholds.merge, review_threshold=job.thresholds.review
        ),
        record_count=job.record_count,
        candidate_pair_count=job.candidate_pair_count,
        merged_count=job.merged_count,
        review_count=job.review_count,
        error=job.error,
        create_time=_timestamp(job.create_time),
    )
    if job.end_time is not None:
        message.end_time.CopyFrom(_timestamp(job.end_time))
    return message


def _review(review: MatchReview, workspace: str) -> pb.MatchReview:
    message = pb.MatchReview(
        name=MatchingService.review_name(workspace, review.id),
        match=_match(
            Match(
                customer_id=review.customer_b,
                probability=review.probability,
                match_weight=review.match_weight,
                comparisons=review.comparisons,
            ),
            workspace,
        ),
        customer=CUSTOMER.format(workspace=workspace, customer=review.customer_a),
        state=pb.ReviewState.Value(f"REVIEW_STATE_{review.state}"),
        deduplication_job=(
            MatchingService.job_name(workspace, review.job_id) if review.job_id else ""
        ),
        create_time=_timestamp(review.create_time),
    )
    if review.review_time is not None:
        message.review_time.CopyFrom(_timestamp(review.review_time))
    return message
