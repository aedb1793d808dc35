"""A deduplication job end to end on PostgreSQL: merges, reviews, FindMatches, a decision."""

from __future__ import annotations

from rapport.grpctesting import eventually
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb

from .._identity_support import replica

PARENT = "workspaces/default"
# Wide enough that the seeded borderline pairs fall between them.
THRESHOLDS = pb.MatchingThresholds(merge_threshold=0.999, review_threshold=0.5)
FINISHED = (pb.JobState.JOB_STATE_SUCCEEDED, pb.JobState.JOB_STATE_FAILED)


async def test_deduplication_job_on_postgres(
    postgres_url: str, pg_schema: str, seed_people
) -> None:
    settings = IdentitySettings(database_url=postgres_url, database_schema=pg_schema)
    async with replica(settings) as stub:
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

        async def finished() -> pb.DeduplicationJob | None:
            got = await stub.GetDeduplicationJob(pb.GetDeduplicationJobRequest(name=job.name))
            return got if got.state in FINISHED else None

        job = await eventually(finished, timeout=60, interval=0.05)
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
