"""FindMatches, deduplication jobs and match reviews through the gRPC API (SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import pytest
from rapport.grpctesting import eventually, serve_in_process
from rapport.identity import bootstrap
from rapport.identity.adapters.tables import deduplication_jobs
from rapport.identity.service_layer import resolve
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

from .._identity_support import ident, store_rows

PARENT = "workspaces/default"
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
JOB = pb.JobState
REVIEW = pb.ReviewState
# Wide enough that the test's borderline pairs fall between them whatever the fitted model.
THRESHOLDS = pb.MatchingThresholds(merge_threshold=0.999, review_threshold=0.5)

JOB_TIMEOUT_SECONDS = 30.0

Stub = pb_grpc.IdentityServiceStub


class MergeGate:
    """Holds deduplication merges until released, so a test can watch a RUNNING job."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = asyncio.Event()

    def wrap(self, merge: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def gated(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            await self.open.wait()
            return await merge(*args, **kwargs)

        return gated


@pytest.fixture
def merge_gate(monkeypatch: pytest.MonkeyPatch) -> MergeGate:
    gate = MergeGate()
    monkeypatch.setattr(resolve, "merge_customer_groups", gate.wrap(resolve.merge_customer_groups))
    return gate


async def wait_for_job(stub: Stub, name: str, states: Sequence[int]) -> pb.DeduplicationJob:
    async def reached() -> pb.DeduplicationJob | None:
        job = await stub.GetDeduplicationJob(pb.GetDeduplicationJobRequest(name=name))
        return job if job.state in states else None

    return await eventually(reached, timeout=JOB_TIMEOUT_SECONDS, interval=0.05)


async def run_job(
    stub: Stub, thresholds: pb.MatchingThresholds = THRESHOLDS
) -> pb.DeduplicationJob:
    job = await stub.CreateDeduplicationJob(
        pb.CreateDeduplicationJobRequest(
            parent=PARENT, deduplication_job=pb.DeduplicationJob(thresholds=thresholds)
        )
    )
    return await wait_for_job(stub, job.name, [JOB.JOB_STATE_SUCCEEDED, JOB.JOB_STATE_FAILED])


async def survivor(stub: Stub, name: str) -> str:
    return (await stub.GetCustomer(pb.GetCustomerRequest(name=name))).name


# --- FindMatches ------------------------------------------------------------------------


async def test_find_matches_ranks_the_duplicate_of_a_customer_first(
    stub: Stub, seed_people
) -> None:
    people = await seed_people(stub)
    for label, (original, duplicate) in people.clear_duplicates.items():
        response = await stub.FindMatches(
            pb.FindMatchesRequest(parent=PARENT, customer=people.names[original])
        )
        found = [match.customer for match in response.matches]
        assert found and found[0] == people.names[duplicate], label
        assert people.names[original] not in found
        best = response.matches[0]
        assert best.probability >= 0.99, label
        assert best.match_weight > 0
        assert {c.attribute for c in best.comparisons} >= {"given_name", "family_name"}
        probabilities = [match.probability for match in response.matches]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(p >= 0.8 for p in probabilities)  # the default review threshold


async def test_find_matches_for_a_bare_record(stub: Stub, seed_people) -> None:
    people = await seed_people(stub)
    person = people.attributes[20]
    record = pb.PersonAttributes(
        **{**person, "given_name": person["given_name"] + "e", "street_number": ""}
    )
    response = await stub.FindMatches(
        pb.FindMatchesRequest(parent=PARENT, record=record, max_results=3, min_probability=0.01)
    )
    assert response.matches[0].customer == people.names[20]
    assert response.matches[0].probability >= 0.9
    assert len(response.matches) <= 3


async def test_find_matches_without_enough_records_finds_nothing(stub: Stub) -> None:
    await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT,
            identifiers=[ident("email", "solo@example.org")],
            attributes=pb.PersonAttributes(given_name="Solo", family_name="Person"),
        )
    )
    response = await stub.FindMatches(
        pb.FindMatchesRequest(
            parent=PARENT, record=pb.PersonAttributes(given_name="Solo", family_name="Person")
        )
    )
    assert list(response.matches) == []


async def test_find_matches_refuses_bad_input(stub: Stub, seed_people, fails) -> None:
    people = await seed_people(stub)
    record = pb.PersonAttributes(given_name="Ann")
    cases = [
        (pb.FindMatchesRequest(parent="nope", record=record), INVALID, "parent"),
        (pb.FindMatchesRequest(parent=PARENT), INVALID, "customer"),
        (pb.FindMatchesRequest(parent=PARENT, customer="customers/x"), INVALID, "customer"),
        (
            pb.FindMatchesRequest(parent=PARENT, customer="workspaces/other/customers/x"),
            INVALID,
            "customer",
        ),
        (pb.FindMatchesRequest(parent=PARENT, record=pb.PersonAttributes()), INVALID, "record"),
        (
            pb.FindMatchesRequest(
                parent=PARENT, record=pb.PersonAttributes(birth_date="03/09/1975")
            ),
            INVALID,
            "record.birth_date",
        ),
        (
            pb.FindMatchesRequest(parent=PARENT, record=record, max_results=101),
            INVALID,
            "max_results",
        ),
        (
            pb.FindMatchesRequest(parent=PARENT, record=record, max_results=-1),
            INVALID,
            "max_results",
        ),
        (
            pb.FindMatchesRequest(parent=PARENT, record=record, min_probability=1.5),
            INVALID,
            "min_probability",
        ),
    ]
    for request, code, field in cases:
        failure = await fails(stub.FindMatches(request), code)
        assert failure.field == field, request

    missing = f"{PARENT}/customers/unknown"
    failure = await fails(
        stub.FindMatches(pb.FindMatchesRequest(parent=PARENT, customer=missing)), NOT_FOUND
    )
    assert failure.info.metadata["resource"] == missing

    failure = await fails(
        stub.FindMatches(pb.FindMatchesRequest(parent=PARENT, customer=people.without_attributes)),
        FAILED_PRECONDITION,
    )
    assert failure.info.reason == "NO_ATTRIBUTES"
    await fails(
        stub.FindMatches(pb.FindMatchesRequest(parent="workspaces/nowhere", record=record)),
        NOT_FOUND,
    )


# --- deduplication jobs -------------------------------------------------------------------


async def test_deduplication_job_merges_clear_duplicates_and_queues_borderline_pairs(
    merge_gate: MergeGate, stub: Stub, seed_people, fails
) -> None:
    # (merge_gate first: it must patch the wiring before the server is built)
    people = await seed_people(stub)
    created = await stub.CreateDeduplicationJob(
        pb.CreateDeduplicationJobRequest(
            parent=PARENT, deduplication_job=pb.DeduplicationJob(thresholds=THRESHOLDS)
        )
    )
    assert created.state == JOB.JOB_STATE_PENDING
    assert created.name.startswith(f"{PARENT}/deduplicationJobs/")
    assert created.thresholds == THRESHOLDS
    assert not created.HasField("end_time")

    running = await wait_for_job(stub, created.name, [JOB.JOB_STATE_RUNNING])
    # One job per workspace at a time.
    failure = await fails(
        stub.CreateDeduplicationJob(pb.CreateDeduplicationJobRequest(parent=PARENT)),
        FAILED_PRECONDITION,
    )
    assert failure.info.reason == "JOB_ALREADY_RUNNING"
    async with asyncio.timeout(JOB_TIMEOUT_SECONDS):
        await merge_gate.entered.wait()  # held in the first merge: records counted, pairs scored
    running = await stub.GetDeduplicationJob(pb.GetDeduplicationJobRequest(name=created.name))
    assert running.state == JOB.JOB_STATE_RUNNING
    assert running.record_count == len(people.attributes)
    assert 0 < running.progress < 1

    merge_gate.open.set()
    done = await wait_for_job(stub, created.name, [JOB.JOB_STATE_SUCCEEDED, JOB.JOB_STATE_FAILED])
    assert done.state == JOB.JOB_STATE_SUCCEEDED, done.error
    assert done.progress == 1.0
    assert done.HasField("end_time") and done.end_time.ToDatetime() >= done.create_time.ToDatetime()
    assert done.candidate_pair_count >= len(people.clear_duplicates)
    # Each clear duplicate merged with its original, and nothing else merged.
    assert done.merged_count == len(people.clear_duplicates)
    for label, (original, duplicate) in people.clear_duplicates.items():
        assert await survivor(stub, people.names[duplicate]) == await survivor(
            stub, people.names[original]
        ), label
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=1000))
    assert len(listed.customers) == len(people.names) + 1 - len(people.clear_duplicates)

    reviews = (await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))).match_reviews
    assert len(reviews) == done.review_count
    queued = {frozenset((review.customer, review.match.customer)) for review in reviews}
    for label, (original, duplicate) in people.borderline.items():
        assert frozenset((people.names[original], people.names[duplicate])) in queued, label
    for review in reviews:
        assert review.state == REVIEW.REVIEW_STATE_PENDING
        assert review.deduplication_job == created.name
        assert THRESHOLDS.review_threshold <= review.match.probability < THRESHOLDS.merge_threshold
        assert review.customer < review.match.customer
        assert review.match.comparisons
    assert [r.match.probability for r in reviews] == sorted(
        (r.match.probability for r in reviews), reverse=True
    )

    # A second run merges nothing more and queues no pair twice.
    again = await run_job(stub)
    assert again.state == JOB.JOB_STATE_SUCCEEDED
    assert again.merged_count == 0
    pending = await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))
    pairs = [frozenset((r.customer, r.match.customer)) for r in pending.match_reviews]
    assert len(pairs) == len(set(pairs)) == done.review_count + again.review_count


async def test_a_duplicate_the_rules_refuse_to_merge_is_queued_for_review(
    stub: Stub, seed_people
) -> None:
    people = await seed_people(stub)
    original, duplicate = people.clear_duplicates["exact_0"]
    pair = {people.names[original], people.names[duplicate]}
    for index, name in enumerate(sorted(pair)):
        customer = await stub.GetCustomer(pb.GetCustomerRequest(name=name))
        await stub.Resolve(
            pb.ResolveRequest(
                parent=PARENT,
                identifiers=[
                    customer.identifiers[0],
                    ident("user_id", f"user-{index}"),
                ],
            )
        )
    job = await run_job(stub)
    assert job.state == JOB.JOB_STATE_SUCCEEDED, job.error
    assert job.merged_count == len(people.clear_duplicates) - 1
    assert await survivor(stub, people.names[original]) != await survivor(
        stub, people.names[duplicate]
    )
    pending = await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))
    [queued] = [r for r in pending.match_reviews if {r.customer, r.match.customer} == pair]
    assert queued.match.probability >= THRESHOLDS.merge_threshold


async def test_create_deduplication_job_refuses_bad_thresholds(stub: Stub, fails) -> None:
    cases = [
        (pb.MatchingThresholds(merge_threshold=1.5), "merge_threshold"),
        (pb.MatchingThresholds(review_threshold=-0.1), "review_threshold"),
        (pb.MatchingThresholds(merge_threshold=0.7, review_threshold=0.9), "review_threshold"),
        # Above the workspace's merge threshold (0.99 by default).
        (pb.MatchingThresholds(review_threshold=0.995), "review_threshold"),
    ]
    for thresholds, field in cases:
        failure = await fails(
            stub.CreateDeduplicationJob(
                pb.CreateDeduplicationJobRequest(
                    parent=PARENT, deduplication_job=pb.DeduplicationJob(thresholds=thresholds)
                )
            ),
            INVALID,
        )
        assert failure.field == f"deduplication_job.thresholds.{field}"
    failure = await fails(
        stub.CreateDeduplicationJob(pb.CreateDeduplicationJobRequest(parent="workspaces/")),
        INVALID,
    )
    assert failure.field == "parent"
    # Bad input changes nothing.
    listed = await stub.ListDeduplicationJobs(pb.ListDeduplicationJobsRequest(parent=PARENT))
    assert list(listed.deduplication_jobs) == []


async def test_a_job_with_defaults_and_no_records_succeeds_with_nothing_to_do(stub: Stub) -> None:
    job = await run_job(stub, pb.MatchingThresholds())
    assert job.state == JOB.JOB_STATE_SUCCEEDED
    assert job.thresholds == pb.MatchingThresholds(merge_threshold=0.99, review_threshold=0.8)
    assert (job.record_count, job.merged_count, job.review_count) == (0, 0, 0)
    assert job.progress == 1.0


async def test_get_and_list_deduplication_jobs(stub: Stub, fails) -> None:
    first = await run_job(stub)
    second = await run_job(stub)
    page = await stub.ListDeduplicationJobs(
        pb.ListDeduplicationJobsRequest(parent=PARENT, page_size=1)
    )
    assert [job.name for job in page.deduplication_jobs] == [second.name]  # newest first
    assert page.next_page_token
    rest = await stub.ListDeduplicationJobs(
        pb.ListDeduplicationJobsRequest(parent=PARENT, page_size=1, page_token=page.next_page_token)
    )
    assert [job.name for job in rest.deduplication_jobs] == [first.name]
    assert rest.next_page_token == ""

    failure = await fails(
        stub.ListDeduplicationJobs(
            pb.ListDeduplicationJobsRequest(
                parent="workspaces/other", page_token=page.next_page_token
            )
        ),
        INVALID,
    )
    assert failure.field == "page_token"
    failure = await fails(
        stub.ListDeduplicationJobs(pb.ListDeduplicationJobsRequest(parent=PARENT, page_size=-1)),
        INVALID,
    )
    assert failure.field == "page_size"

    missing = f"{PARENT}/deduplicationJobs/unknown"
    failure = await fails(
        stub.GetDeduplicationJob(pb.GetDeduplicationJobRequest(name=missing)), NOT_FOUND
    )
    assert failure.info.metadata["resource"] == missing
    failure = await fails(
        stub.GetDeduplicationJob(pb.GetDeduplicationJobRequest(name=f"{PARENT}/jobs/x")), INVALID
    )
    assert failure.field == "name"


async def test_a_job_interrupted_by_a_stop_or_a_crash_is_failed_not_stuck(
    identity_settings: IdentitySettings, seed_people, merge_gate: MergeGate
) -> None:
    # Stopped while running: the job records itself FAILED "interrupted".
    async with serve_in_process(bootstrap.build, identity_settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = pb_grpc.IdentityServiceStub(channel)
            await seed_people(stub)
            job = await stub.CreateDeduplicationJob(pb.CreateDeduplicationJobRequest(parent=PARENT))
            await wait_for_job(stub, job.name, [JOB.JOB_STATE_RUNNING])
            async with asyncio.timeout(JOB_TIMEOUT_SECONDS):
                await merge_gate.entered.wait()  # held inside the first merge

    # A process that died left a RUNNING job behind: the next start-up fails it.
    await store_rows(
        identity_settings,
        deduplication_jobs,
        {
            "workspace": "default",
            "job_id": "crashed",
            "state": "RUNNING",
            "progress": 0.5,
            "merge_threshold": 0.99,
            "review_threshold": 0.8,
            "record_count": 0,
            "candidate_pair_count": 0,
            "merged_count": 0,
            "review_count": 0,
            "error": "",
            "create_time": job.create_time.ToDatetime(),
        },
    )

    async with serve_in_process(bootstrap.build, identity_settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = pb_grpc.IdentityServiceStub(channel)
            for name in (job.name, f"{PARENT}/deduplicationJobs/crashed"):
                found = await stub.GetDeduplicationJob(pb.GetDeduplicationJobRequest(name=name))
                assert (found.state, found.error) == (JOB.JOB_STATE_FAILED, "interrupted")
                assert found.HasField("end_time")
            # Nothing is left stuck: a new job can start.
            merge_gate.open.set()
            assert (await run_job(stub)).state == JOB.JOB_STATE_SUCCEEDED


# --- match reviews ------------------------------------------------------------------------


@pytest.fixture
async def reviewed(stub: Stub, seed_people) -> tuple[Any, list[pb.MatchReview]]:
    """Seeded people after a deduplication job, and the borderline pairs' reviews."""
    people = await seed_people(stub)
    await run_job(stub)
    reviews = (await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))).match_reviews
    by_pair = {frozenset((review.customer, review.match.customer)): review for review in reviews}
    return people, [
        by_pair[frozenset((people.names[original], people.names[duplicate]))]
        for original, duplicate in people.borderline.values()
    ]


async def test_accepting_a_review_merges_the_two_customers(stub: Stub, reviewed, fails) -> None:
    _, (review, *_) = reviewed
    decided = await stub.ReviewMatch(
        pb.ReviewMatchRequest(name=review.name, decision=pb.REVIEW_DECISION_ACCEPT)
    )
    assert decided.state == REVIEW.REVIEW_STATE_ACCEPTED
    assert decided.HasField("review_time")
    assert await survivor(stub, review.customer) == await survivor(stub, review.match.customer)

    failure = await fails(
        stub.ReviewMatch(
            pb.ReviewMatchRequest(name=review.name, decision=pb.REVIEW_DECISION_REJECT)
        ),
        FAILED_PRECONDITION,
    )
    assert failure.info.reason == "ALREADY_REVIEWED"
    accepted = await stub.ListMatchReviews(
        pb.ListMatchReviewsRequest(parent=PARENT, state=REVIEW.REVIEW_STATE_ACCEPTED)
    )
    assert [r.name for r in accepted.match_reviews] == [review.name]
    pending = await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))
    assert review.name not in {r.name for r in pending.match_reviews}


async def test_an_accepted_review_the_rules_refuse_stays_pending(
    stub: Stub, reviewed, fails
) -> None:
    _, (review, *_) = reviewed
    # Each customer gets its own user_id: one user_id per customer is the default limit.
    for index, name in enumerate((review.customer, review.match.customer)):
        customer = await stub.GetCustomer(pb.GetCustomerRequest(name=name))
        await stub.Resolve(
            pb.ResolveRequest(
                parent=PARENT,
                identifiers=[
                    customer.identifiers[0],
                    ident("user_id", f"user-{index}"),
                ],
            )
        )
    failure = await fails(
        stub.ReviewMatch(
            pb.ReviewMatchRequest(name=review.name, decision=pb.REVIEW_DECISION_ACCEPT)
        ),
        FAILED_PRECONDITION,
    )
    assert failure.info.reason == "LIMIT_EXCEEDED"
    assert await survivor(stub, review.customer) != await survivor(stub, review.match.customer)
    pending = await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))
    assert review.name in {r.name for r in pending.match_reviews}


async def test_rejecting_a_review_keeps_the_customers_apart(stub: Stub, reviewed, fails) -> None:
    _, (_, review, *_) = reviewed
    decided = await stub.ReviewMatch(
        pb.ReviewMatchRequest(name=review.name, decision=pb.REVIEW_DECISION_REJECT)
    )
    assert decided.state == REVIEW.REVIEW_STATE_REJECTED
    assert await survivor(stub, review.customer) != await survivor(stub, review.match.customer)
    failure = await fails(
        stub.ReviewMatch(
            pb.ReviewMatchRequest(name=review.name, decision=pb.REVIEW_DECISION_ACCEPT)
        ),
        FAILED_PRECONDITION,
    )
    assert failure.info.reason == "ALREADY_REVIEWED"
    # A later job does not queue the rejected pair again.
    assert (await run_job(stub)).state == JOB.JOB_STATE_SUCCEEDED
    pending = await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))
    pair = {review.customer, review.match.customer}
    assert all({r.customer, r.match.customer} != pair for r in pending.match_reviews)


async def test_resolve_linking_a_rejected_pair_does_not_merge_it(stub: Stub, reviewed) -> None:
    """Needs the resolve path to honour separations (REVIEW_REJECTED)."""
    people, (_, review, *_) = reviewed
    await stub.ReviewMatch(
        pb.ReviewMatchRequest(name=review.name, decision=pb.REVIEW_DECISION_REJECT)
    )
    emails = [
        customer.identifiers[0]
        for customer in [
            await stub.GetCustomer(pb.GetCustomerRequest(name=name))
            for name in (review.customer, review.match.customer)
        ]
    ]
    response = await stub.Resolve(pb.ResolveRequest(parent=PARENT, identifiers=emails))
    assert list(response.merged_customers) == []
    assert await survivor(stub, review.customer) != await survivor(stub, review.match.customer)


async def test_review_match_refuses_bad_input(stub: Stub, reviewed, fails) -> None:
    _, (review, *_) = reviewed
    failure = await fails(stub.ReviewMatch(pb.ReviewMatchRequest(name=review.name)), INVALID)
    assert failure.field == "decision"
    failure = await fails(
        stub.ReviewMatch(pb.ReviewMatchRequest(name=review.name, decision=7)), INVALID
    )
    assert failure.field == "decision"
    failure = await fails(
        stub.ReviewMatch(
            pb.ReviewMatchRequest(name="matchReviews/x", decision=pb.REVIEW_DECISION_ACCEPT)
        ),
        INVALID,
    )
    assert failure.field == "name"
    await fails(
        stub.ReviewMatch(
            pb.ReviewMatchRequest(
                name=f"{PARENT}/matchReviews/unknown", decision=pb.REVIEW_DECISION_ACCEPT
            )
        ),
        NOT_FOUND,
    )
    # Bad input changed nothing.
    pending = await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))
    assert review.name in {r.name for r in pending.match_reviews}


async def test_get_match_review_returns_it_as_listed_then_as_decided(stub: Stub, reviewed) -> None:
    _, (review, *_) = reviewed
    got = await stub.GetMatchReview(pb.GetMatchReviewRequest(name=review.name))
    assert got == review
    assert got.state == REVIEW.REVIEW_STATE_PENDING and not got.HasField("review_time")
    decided = await stub.ReviewMatch(
        pb.ReviewMatchRequest(name=review.name, decision=pb.REVIEW_DECISION_REJECT)
    )
    assert await stub.GetMatchReview(pb.GetMatchReviewRequest(name=review.name)) == decided


@pytest.mark.parametrize(
    ("name", "code", "field"),
    [
        ("", INVALID, "name"),
        ("workspaces/default", INVALID, "name"),
        (f"{PARENT}/matchReviews/", INVALID, "name"),
        (f"{PARENT}/matchReviews/UPPER", INVALID, "name"),
        (f"{PARENT}/matchReviews/a/b", INVALID, "name"),
        (f"{PARENT}/deduplicationJobs/x", INVALID, "name"),
        (f"{PARENT}/matchReviews/{'r' * 200}", INVALID, "name"),
        (f"{PARENT}/matchReviews/unknown", NOT_FOUND, None),
        ("workspaces/nope/matchReviews/unknown", NOT_FOUND, None),
    ],
)
async def test_get_match_review_errors(stub: Stub, fails, name, code, field) -> None:
    failure = await fails(stub.GetMatchReview(pb.GetMatchReviewRequest(name=name)), code)
    assert failure.field == field
    if code == NOT_FOUND:
        expected = "workspaces/nope" if "nope" in name else name
        assert failure.info.metadata["resource"] == expected


async def test_a_match_review_is_not_found_in_another_workspace(
    stub: Stub, reviewed, fails
) -> None:
    _, (review, *_) = reviewed
    elsewhere = review.name.replace(f"{PARENT}/", "workspaces/other/")
    failure = await fails(stub.GetMatchReview(pb.GetMatchReviewRequest(name=elsewhere)), NOT_FOUND)
    assert failure.info.metadata["resource"] == elsewhere


async def test_list_match_reviews_pages_most_probable_first(stub: Stub, reviewed, fails) -> None:
    everything = (
        await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT))
    ).match_reviews
    assert len(everything) >= 2
    paged: list[pb.MatchReview] = []
    token = ""
    while True:
        page = await stub.ListMatchReviews(
            pb.ListMatchReviewsRequest(parent=PARENT, page_size=1, page_token=token)
        )
        paged.extend(page.match_reviews)
        token = page.next_page_token
        if not token:
            break
    assert [r.name for r in paged] == [r.name for r in everything]

    first = await stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT, page_size=1))
    failure = await fails(
        stub.ListMatchReviews(
            pb.ListMatchReviewsRequest(
                parent=PARENT,
                page_size=1,
                page_token=first.next_page_token,
                state=REVIEW.REVIEW_STATE_REJECTED,
            )
        ),
        INVALID,
    )
    assert failure.field == "page_token"
    failure = await fails(
        stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT, state=9)), INVALID
    )
    assert failure.field == "state"
    rejected = await stub.ListMatchReviews(
        pb.ListMatchReviewsRequest(parent=PARENT, state=REVIEW.REVIEW_STATE_REJECTED)
    )
    assert list(rejected.match_reviews) == []


def test_matching_methods_need_the_right_scopes() -> None:
    scopes = {name.rsplit("/", 1)[1]: scope for name, scope in bootstrap.METHOD_SCOPES.items()}
    assert {
        method: scopes[method]
        for method in (
            "FindMatches",
            "GetDeduplicationJob",
            "ListDeduplicationJobs",
            "GetMatchReview",
            "ListMatchReviews",
            "CreateDeduplicationJob",
            "ReviewMatch",
        )
    } == {
        "FindMatches": "identity.read",
        "GetDeduplicationJob": "identity.read",
        "ListDeduplicationJobs": "identity.read",
        "GetMatchReview": "identity.read",
        "ListMatchReviews": "identity.read",
        "CreateDeduplicationJob": "identity.admin",
        "ReviewMatch": "identity.admin",
    }
