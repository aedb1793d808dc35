"""Match reviews: GetMatchReview, ListMatchReviews, and ReviewMatch (accepting merges the
pair, rejecting keeps it apart). Reviews are queued by deduplication jobs
(deduplication_runner.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.identity.domain import names
from rapport.identity.domain.deduplication import MatchReview, ReviewDecision, ReviewState
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace
from rapport.sqlstore import TransientConflict

from . import commands, resolve
from .dependencies import Dependencies
from .unit_of_work import STALE_READ, IdentityUnitOfWork, with_retries

_log = logging.getLogger(__name__)

REVIEW_SOURCE = "match_review"
REVIEW_REASON = "REVIEW_ACCEPTED"
REJECTED_SEPARATION = "REVIEW_REJECTED"


@dataclass(frozen=True)
class ReviewPage:
    reviews: list[MatchReview]
    next_page_token: str


async def get_match_review(cmd: commands.GetMatchReview, deps: Dependencies) -> MatchReview:
    named = _review_name(cmd.name, deps)
    async with deps.uow_factory(readonly=True) as uow:
        return await _stored_review(uow, named, cmd.name)


async def list_match_reviews(cmd: commands.ListMatchReviews, deps: Dependencies) -> ReviewPage:
    """Reviews in one state (PENDING unless asked), most probable first."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    state = cmd.state or ReviewState.PENDING
    size = page_size(cmd.page_size)
    bound_to = f"ListMatchReviews:{cmd.parent}:{state}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    after = None
    if position is not None:
        try:
            after = (float(position["p"]), str(position["r"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument("page_token", "is not a token returned by this method") from exc
    async with deps.uow_factory(readonly=True) as uow:
        reviews = await uow.deduplication.list_reviews(workspace, state, after, size + 1)
    page, next_token = paginate(
        reviews,
        size,
        lambda review: {"p": review.probability, "r": review.id},
        tokens=deps.page_tokens,
        bound_to=bound_to,
    )
    return ReviewPage(page, next_token)


async def review_match(cmd: commands.ReviewMatch, deps: Dependencies) -> MatchReview:
    named = _review_name(cmd.name, deps)
    workspace = named.workspace
    if cmd.decision is None:
        raise InvalidArgument("decision", "must be ACCEPT or REJECT")
    async with deps.uow_factory(readonly=True) as uow:
        review = await _stored_review(uow, named, cmd.name)
        if review.state is not ReviewState.PENDING:
            raise _already_reviewed(cmd.name)
        survivors = await uow.matching.survivors(workspace, [review.customer_a, review.customer_b])
    first, second = _live_pair(review, survivors)
    if cmd.decision is ReviewDecision.ACCEPT:
        return await _accept(deps, review, cmd.name, first, second)
    return await _reject(deps, review, cmd.name, first, second)


async def _accept(
    deps: Dependencies, review: MatchReview, name: str, first: str, second: str
) -> MatchReview:
    if first != second:
        # The review's own customers: the merge finds, under its locks, the live
        # customers they are then (one may have been merged or unmerged since `first`
        # and `second` were read).
        pair = (review.customer_a, review.customer_b)
        outcome = await resolve.merge_customers(
            commands.MergeCustomers(
                review.workspace, pair, source=REVIEW_SOURCE, reason=REVIEW_REASON
            ),
            deps,
        )
        if outcome.refused:
            reason = outcome.refused[0][1]
            raise FailedPrecondition(
                reason,
                f"the identity rules refuse to merge these customers ({reason})",
                {"match_review": name},
            )

    async def decide(uow: IdentityUnitOfWork) -> MatchReview:
        return await _decide(uow, review, name, ReviewState.ACCEPTED, deps.clock())

    decided = await with_retries(deps.uow_factory, decide)
    _log.info("match review decided", extra={"resource": name, "status": str(decided.state)})
    return decided


async def _reject(
    deps: Dependencies, review: MatchReview, name: str, first: str, second: str
) -> MatchReview:
    if first == second:
        raise _already_merged(name)

    async def decide(uow: IdentityUnitOfWork) -> MatchReview:
        now = deps.clock()
        # Read again under the locks: a merge committed since the first read must not
        # be left standing under a REJECTED review (nor one committed before ours ends).
        first, second = await _locked_live_pair(uow, review)
        if first == second:
            raise _already_merged(name)
        decided = await _decide(uow, review, name, ReviewState.REJECTED, now)
        pairs = [(first, second), (review.customer_a, review.customer_b)]
        await uow.matching.add_separations(review.workspace, pairs, REJECTED_SEPARATION, now)
        return decided

    decided = await with_retries(deps.uow_factory, decide)
    _log.info("match review rejected", extra={"resource": name})
    return decided


async def _decide(
    uow: IdentityUnitOfWork, review: MatchReview, name: str, state: ReviewState, now: datetime
) -> MatchReview:
    """PENDING -> ``state`` in ``uow``; ALREADY_REVIEWED if a concurrent call decided first."""
    if not await uow.deduplication.decide_review(review.workspace, review.id, state, now):
        raise _already_reviewed(name)
    decided = await uow.deduplication.get_review(review.workspace, review.id)
    assert decided is not None
    return decided


def _live_pair(review: MatchReview, survivors: dict[str, str]) -> tuple[str, str]:
    """The live customers the review's two customers now are; CUSTOMER_ERASED if gone."""
    first, second = survivors.get(review.customer_a), survivors.get(review.customer_b)
    if first is None or second is None:
        raise FailedPrecondition(
            "CUSTOMER_ERASED", "one of the customers of this review no longer exists"
        )
    return first, second


async def _locked_live_pair(uow: IdentityUnitOfWork, review: MatchReview) -> tuple[str, str]:
    """_live_pair with the live customers' rows locked until ``uow`` ends (PostgreSQL: a
    merge of them waits, then finds the separation; SQLite serialises writers)."""
    workspace, pair = review.workspace, [review.customer_a, review.customer_b]
    survivors = await uow.matching.survivors(workspace, pair)
    for customer_id in sorted(set(survivors.values())):
        await uow.lifecycle.lock_customer_row(workspace, customer_id)
    if await uow.matching.survivors(workspace, pair) != survivors:
        raise TransientConflict(STALE_READ)  # merged or erased before our locks held
    return _live_pair(review, survivors)


def _already_merged(name: str) -> FailedPrecondition:
    return FailedPrecondition(
        "ALREADY_MERGED",
        "the customers were merged meanwhile; unmerge them to keep them apart",
        {"match_review": name},
    )


def _review_name(name: str, deps: Dependencies) -> names.MatchReviewName:
    named = names.parse_match_review(name, field="name")
    require_workspace(named.workspace, deps.workspaces)
    return named


async def _stored_review(
    uow: IdentityUnitOfWork, named: names.MatchReviewName, name: str
) -> MatchReview:
    review = await uow.deduplication.get_review(named.workspace, named.review)
    if review is None:
        raise NotFound(name)
    return review


def _already_reviewed(name: str) -> FailedPrecondition:
    return FailedPrecondition(
        "ALREADY_REVIEWED", f"{name} was already decided", {"match_review": name}
    )
