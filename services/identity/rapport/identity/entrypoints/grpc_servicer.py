"""gRPC servicer: protobuf <-> commands and results (converters.py), nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from rapport.identity.service_layer import (
    commands,
    customers,
    deduplication_jobs,
    lifecycle,
    matching,
    resolve,
    reviews,
    rules,
    watch,
)
from rapport.identity.service_layer.dependencies import Dependencies
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

from . import converters


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    # --- resolve --------------------------------------------------------------------------

    async def Resolve(  # noqa: N802 (generated method name)
        self, request: pb.ResolveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResolveResponse:
        result = await resolve.resolve(converters.resolve_command(request), self._deps)
        return converters.resolve_response(result)

    async def BatchResolve(  # noqa: N802
        self, request: pb.BatchResolveRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchResolveResponse:
        command = commands.BatchResolve(
            parent=request.parent,
            requests=tuple(
                converters.resolve_command(item, prefix=f"requests[{index}].")
                for index, item in enumerate(request.requests)
            ),
        )
        results = await resolve.batch_resolve(command, self._deps)
        return pb.BatchResolveResponse(
            responses=[converters.resolve_response(result) for result in results]
        )

    # --- customers ------------------------------------------------------------------------

    async def GetCustomer(  # noqa: N802
        self, request: pb.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Customer:
        customer = await customers.get_customer(commands.GetCustomer(request.name), self._deps)
        return converters.customer_to_pb(customer)

    async def LookupCustomer(  # noqa: N802
        self, request: pb.LookupCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Customer:
        command = commands.LookupCustomer(
            parent=request.parent, identifier=converters.raw_identifier(request.identifier)
        )
        customer = await customers.lookup_customer(command, self._deps)
        return converters.customer_to_pb(customer)

    async def ListCustomers(  # noqa: N802
        self, request: pb.ListCustomersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCustomersResponse:
        command = commands.ListCustomers(
            parent=request.parent, page_size=request.page_size, page_token=request.page_token
        )
        page = await customers.list_customers(command, self._deps)
        return pb.ListCustomersResponse(
            customers=[converters.customer_to_pb(customer) for customer in page.customers],
            next_page_token=page.next_page_token,
        )

    # --- identity rules -------------------------------------------------------------------

    async def GetIdentityRules(  # noqa: N802
        self, request: pb.GetIdentityRulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.IdentityRules:
        found = await rules.get_identity_rules(commands.GetIdentityRules(request.name), self._deps)
        return converters.rules_to_pb(found)

    async def UpdateIdentityRules(  # noqa: N802
        self, request: pb.UpdateIdentityRulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.IdentityRules:
        command = commands.UpdateIdentityRules(
            name=request.identity_rules.name,
            identity_rules=converters.rules_from_pb(request.identity_rules),
            update_mask=tuple(request.update_mask.paths),
        )
        updated = await rules.update_identity_rules(command, self._deps)
        return converters.rules_to_pb(updated)

    # --- lifecycle and changes ------------------------------------------------------------

    async def UnmergeCustomer(  # noqa: N802
        self, request: pb.UnmergeCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnmergeCustomerResponse:
        command = commands.UnmergeCustomer(name=request.name, customers=tuple(request.customers))
        result = await lifecycle.unmerge_customer(command, self._deps)
        return pb.UnmergeCustomerResponse(
            customer=converters.customer_to_pb(result.customer),
            restored_customers=[
                converters.customer_to_pb(customer) for customer in result.restored_customers
            ],
        )

    async def EraseCustomer(  # noqa: N802
        self, request: pb.EraseCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.EraseCustomerResponse:
        command = commands.EraseCustomer(
            name=request.name, block_identifiers=request.block_identifiers
        )
        result = await lifecycle.erase_customer(command, self._deps)
        return pb.EraseCustomerResponse(
            name=result.name, erased_identifier_count=result.erased_identifier_count
        )

    async def WatchChanges(  # noqa: N802
        self, request: pb.WatchChangesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchChangesResponse]:
        command = commands.WatchChanges(parent=request.parent, start_cursor=request.start_cursor)
        # Encoded by converters.ChangeResponses (Dependencies.change_encoder): the
        # stream measures each response before sending it.
        async for response in await watch.watch_changes(command, self._deps):
            yield response

    # --- matching, deduplication jobs, match reviews --------------------------------------

    async def FindMatches(  # noqa: N802
        self, request: pb.FindMatchesRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindMatchesResponse:
        subject = request.WhichOneof("subject")
        command = commands.FindMatches(
            parent=request.parent,
            customer=request.customer if subject == "customer" else "",
            record=converters.record_attributes(request.record) if subject == "record" else None,
            max_results=request.max_results,
            min_probability=request.min_probability,
        )
        matches = await matching.find_matches(command, self._deps)
        return pb.FindMatchesResponse(matches=[converters.match_to_pb(m) for m in matches])

    async def CreateDeduplicationJob(  # noqa: N802
        self, request: pb.CreateDeduplicationJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeduplicationJob:
        thresholds = request.deduplication_job.thresholds
        command = commands.CreateDeduplicationJob(
            parent=request.parent,
            merge_threshold=thresholds.merge_threshold,
            review_threshold=thresholds.review_threshold,
        )
        job = await deduplication_jobs.create_deduplication_job(command, self._deps)
        return converters.job_to_pb(job)

    async def GetDeduplicationJob(  # noqa: N802
        self, request: pb.GetDeduplicationJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeduplicationJob:
        job = await deduplication_jobs.get_deduplication_job(
            commands.GetDeduplicationJob(request.name), self._deps
        )
        return converters.job_to_pb(job)

    async def ListDeduplicationJobs(  # noqa: N802
        self, request: pb.ListDeduplicationJobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeduplicationJobsResponse:
        command = commands.ListDeduplicationJobs(
            parent=request.parent, page_size=request.page_size, page_token=request.page_token
        )
        page = await deduplication_jobs.list_deduplication_jobs(command, self._deps)
        return pb.ListDeduplicationJobsResponse(
            deduplication_jobs=[converters.job_to_pb(job) for job in page.jobs],
            next_page_token=page.next_page_token,
        )

    async def GetMatchReview(  # noqa: N802
        self, request: pb.GetMatchReviewRequest, context: grpc.aio.ServicerContext
    ) -> pb.MatchReview:
        review = await reviews.get_match_review(commands.GetMatchReview(request.name), self._deps)
        return converters.review_to_pb(review)

    async def ListMatchReviews(  # noqa: N802
        self, request: pb.ListMatchReviewsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMatchReviewsResponse:
        command = commands.ListMatchReviews(
            parent=request.parent,
            state=converters.review_state(request.state),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        page = await reviews.list_match_reviews(command, self._deps)
        return pb.ListMatchReviewsResponse(
            match_reviews=[converters.review_to_pb(review) for review in page.reviews],
            next_page_token=page.next_page_token,
        )

    async def ReviewMatch(  # noqa: N802
        self, request: pb.ReviewMatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.MatchReview:
        command = commands.ReviewMatch(
            name=request.name, decision=converters.review_decision(request.decision)
        )
        review = await reviews.review_match(command, self._deps)
        return converters.review_to_pb(review)
