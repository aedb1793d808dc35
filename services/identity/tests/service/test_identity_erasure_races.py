"""Erasures and merges that land between a read and what its caller does next.

Each test holds a repository read (HeldAfterRead) while a concurrent call commits, then
lets the first caller go on: it must not act on what it read without looking again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
from rapport.grpctesting import HeldAfterRead, eventually
from rapport.identity.adapters.deduplication_repository import DeduplicationRepository
from rapport.identity.adapters.matching_repository import MatchingRepository
from rapport.identity.adapters.tables import match_models, match_reviews
from rapport.identity.domain.deduplication import ordered_pair
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.sqlstore import create_engine
from sqlalchemy import select

from .._identity_support import ident, store_rows

PARENT = "workspaces/default"


async def _stored_record_counts(settings) -> list[int]:
    engine = create_engine(settings.database_url_or_default())
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(match_models.c.record_count))
            return [row.record_count for row in rows]
    finally:
        await engine.dispose()


async def test_a_model_trained_on_records_read_before_an_erasure_is_not_stored(
    stub, seed_people, identity_settings, monkeypatch
):
    """FindMatches reads the records, an erasure commits, then the model is trained on
    what was read: storing it would bring the erased person's attribute values back
    into the match model (its term frequencies) that the erasure dropped."""
    people = await seed_people(stub)
    live = len(people.names)  # the seeded customers with attributes
    erased = people.names[0]
    hold = HeldAfterRead(monkeypatch, MatchingRepository, "model_train_time", hold_empty=True)
    finding = asyncio.ensure_future(
        stub.FindMatches(pb.FindMatchesRequest(parent=PARENT, customer=people.names[1]))
    )
    await asyncio.wait_for(hold.reached.wait(), 30)
    await stub.EraseCustomer(pb.EraseCustomerRequest(name=erased))
    hold.release.set()
    found = await finding
    assert found.matches, "the call that read before the erasure still answers"

    # No stored model counts the erased person's record.
    assert await _stored_record_counts(identity_settings) in ([], [live - 1])
    # The next call trains on the data left, and stores that.
    again = await stub.FindMatches(pb.FindMatchesRequest(parent=PARENT, customer=people.names[1]))
    assert all(match.customer != erased for match in again.matches)
    assert await _stored_record_counts(identity_settings) == [live - 1]


async def _resolve(stub, *emails: str) -> str:
    resolved = await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT, identifiers=[ident("email", email) for email in emails], source="test"
        )
    )
    return resolved.customer.name


async def _survivor(stub, name: str) -> str:
    return (await stub.GetCustomer(pb.GetCustomerRequest(name=name))).name


async def _store_review(settings, name_a: str, name_b: str) -> str:
    """A PENDING match review of the two customers (as a deduplication job queues)."""
    first, second = ordered_pair(name_a.rsplit("/", 1)[1], name_b.rsplit("/", 1)[1])
    await store_rows(
        settings,
        match_reviews,
        {
            "workspace": "default",
            "review_id": "r1",
            "customer_a": first,
            "customer_b": second,
            "probability": 0.9,
            "details": {},
            "state": "PENDING",
            "job_id": None,
            "create_time": datetime.now(UTC),
            "review_time": None,
        },
    )
    return f"{PARENT}/matchReviews/r1"


async def test_a_review_rejected_while_a_merge_joins_its_customers_is_not_rejected(
    stub, identity_settings, monkeypatch, fails
):
    """ReviewMatch (REJECT) reads that the two customers are apart, then a Resolve merges
    them, then the rejection is recorded: the review said REJECTED (kept apart) while
    the two customers were one. It must see the merge: ALREADY_MERGED, still PENDING."""
    names = [await _resolve(stub, email) for email in ("ann@example.org", "ann.b@example.org")]
    review = await _store_review(identity_settings, *names)
    hold = HeldAfterRead(monkeypatch, MatchingRepository, "survivors", hold_empty=True)
    rejecting = asyncio.ensure_future(
        stub.ReviewMatch(pb.ReviewMatchRequest(name=review, decision=pb.REVIEW_DECISION_REJECT))
    )
    await asyncio.wait_for(hold.reached.wait(), 30)
    # The same person signs in with both emails: one customer.
    await _resolve(stub, "ann@example.org", "ann.b@example.org")
    assert {await _survivor(stub, name) for name in names} == {names[0]}
    hold.release.set()
    failure = await fails(rejecting, grpc.StatusCode.FAILED_PRECONDITION)
    assert failure.info.reason == "ALREADY_MERGED"
    stored = await stub.GetMatchReview(pb.GetMatchReviewRequest(name=review))
    assert stored.state == pb.ReviewState.REVIEW_STATE_PENDING


async def test_a_review_accepted_while_its_customer_is_unmerged_merges_that_customer(
    stub, identity_settings, monkeypatch
):
    """Review (a, b); a was merged into s. ReviewMatch (ACCEPT) reads that a lives in s,
    then a is unmerged from s, then the merge is made: it merged s (another person) with
    b and left a apart. It must merge the customers the review is about: a and b."""
    s_name = await _resolve(stub, "sam@example.org")
    a_name = await _resolve(stub, "ann@example.org")
    b_name = await _resolve(stub, "ann.b@example.org")
    await _resolve(stub, "sam@example.org", "ann@example.org")
    assert await _survivor(stub, a_name) == s_name
    review = await _store_review(identity_settings, a_name, b_name)
    hold = HeldAfterRead(monkeypatch, MatchingRepository, "survivors", hold_empty=True)
    accepting = asyncio.ensure_future(
        stub.ReviewMatch(pb.ReviewMatchRequest(name=review, decision=pb.REVIEW_DECISION_ACCEPT))
    )
    await asyncio.wait_for(hold.reached.wait(), 30)
    await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s_name, customers=[a_name]))
    hold.release.set()
    decided = await accepting
    assert decided.state == pb.ReviewState.REVIEW_STATE_ACCEPTED
    assert await _survivor(stub, a_name) == await _survivor(stub, b_name)
    assert await _survivor(stub, s_name) == s_name != await _survivor(stub, b_name)


async def test_a_deduplication_job_queues_no_review_of_a_customer_erased_meanwhile(
    stub, seed_people, monkeypatch
):
    """The job reads which of its pairs are still apart, an erasure commits (deleting the
    reviews of the customer), then the job adds its reviews: a PENDING review naming
    the erased customer came back."""
    people = await seed_people(stub)
    original, _ = next(iter(people.borderline.values()))
    erased = people.names[original]
    hold = HeldAfterRead(monkeypatch, DeduplicationRepository, "reviewed_pairs", hold_empty=True)
    job = await stub.CreateDeduplicationJob(
        pb.CreateDeduplicationJobRequest(
            parent=PARENT,
            deduplication_job=pb.DeduplicationJob(
                thresholds=pb.MatchingThresholds(merge_threshold=0.999, review_threshold=0.5)
            ),
        )
    )
    await asyncio.wait_for(hold.reached.wait(), 60)
    await stub.EraseCustomer(pb.EraseCustomerRequest(name=erased))
    hold.release.set()

    async def finished() -> pb.DeduplicationJob | None:
        found = await stub.GetDeduplicationJob(pb.GetDeduplicationJobRequest(name=job.name))
        return found if found.state == pb.JobState.JOB_STATE_SUCCEEDED else None

    done = await eventually(finished, timeout=60, interval=0.05)
    reviews = (
        await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT, page_size=1000))
    ).match_reviews
    named = {name for review in reviews for name in (review.customer, review.match.customer)}
    assert reviews, "the other borderline pairs are queued"
    assert erased not in named
    assert done.review_count == len(reviews)
