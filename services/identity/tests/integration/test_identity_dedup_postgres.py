"""A deduplication job end to end on PostgreSQL: merges, reviews, FindMatches, a decision."""

from __future__ import annotations

import asyncio

import grpc
from rapport.grpctesting import serve_in_process
from rapport.identity.bootstrap import build
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

PARENT = "workspaces/default"
# Wide enough that the seeded borderline pairs fall between them.
THRESHOLDS = pb.MatchingThresholds(merge_threshold=0.999, review_threshold=0.5)
FINISHED = (pb.JobState.JOB_STATE_SUCCEEDED, pb.JobState.JOB_STATE_FAILED)


async def test_deduplication_job_on_postgres(
    postgres_url: str, pg_schema: str, seed_people
) -> None:
    settings = IdentitySettings(database_url=postgres_url, database_schema=pg_schema)
    async with (
        serve_in_process(build, settings) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        stub = pb_grpc.IdentityServiceStub(channel)
        people = await seed_people(stub)

        original, duplicate = people.clear_duplicates["typo_1"]
        found = await stub.FindMatches(
            pb.FindMatchesRequest(parent=PARENT, customer=people.names[original])
        )
        assert found.matches[0].customer == people.names[duplicate]

        job = await stub.CreateDeduplicationJob(
            pb.CreateDeduplicationJobRequest(
                parent=PARENT, deduplication_job=pb.DeduplicationJob(thresholds=THRESHOLDS)
            )
        )
        assert job.state == pb.JobState.JOB_STATE_PENDING
        async with asyncio.timeout(60):
            while job.state not in FINISHED:
                await asyncio.sleep(0.05)
                job = await stub.GetDeduplicationJob(pb.GetDeduplicationJobRequest(name=job.name))
        assert job.state == pb.JobState.JOB_STATE_SUCCEEDED, job.error
        assert job.progress == 1.0
        assert job.merged_count == len(people.clear_duplicates)

        for original, duplicate in people.clear_duplicates.values():
            merged = await stub.GetCustomer(pb.GetCustomerRequest(name=people.names[duplicate]))
            kept = await stub.GetCustomer(pb.GetCustomerRequest(name=people.names[original]))
            assert merged.name == kept.name

        reviews = (
            await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))
        ).match_reviews
        assert len(reviews) == job.review_count >= len(people.borderline)
        original, duplicate = next(iter(people.borderline.values()))
        [review] = [
            r
            for r in reviews
            if {r.customer, r.match.customer} == {people.names[original], people.names[duplicate]}
        ]
        decided = await stub.ReviewMatch(
            pb.ReviewMatchRequest(name=review.name, decision=pb.REVIEW_DECISION_ACCEPT)
        )
        assert decided.state == pb.ReviewState.REVIEW_STATE_ACCEPTED
        first = await stub.GetCustomer(pb.GetCustomerRequest(name=people.names[original]))
        second = await stub.GetCustomer(pb.GetCustomerRequest(name=people.names[duplicate]))
        assert first.name == second.name
