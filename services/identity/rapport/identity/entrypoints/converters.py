"""Protobuf <-> commands and results of the identity service. Decoding only: rules live below.

A request value that cannot be decoded at all (an enum number this version does not
know, a timestamp or duration out of range) is InvalidArgument here; everything else
is validated by the service layer. Timestamps and durations go through
rapport.wellknowntypes both ways.
"""

from __future__ import annotations

from typing import TypeVar

from rapport.errors import InvalidArgument
from rapport.identity.domain import names
from rapport.identity.domain.deduplication import (
    DeduplicationJob,
    JobState,
    MatchReview,
    ReviewDecision,
    ReviewState,
)
from rapport.identity.domain.model import Change, ChangeKind, Customer
from rapport.identity.domain.rules import (
    IdentifierTypeRule,
    IdentityRules,
    MatchingThresholds,
    Normalization,
)
from rapport.identity.matching import ATTRIBUTES
from rapport.identity.service_layer import commands
from rapport.identity.service_layer.matching import Match
from rapport.identity.service_layer.resolve import ResolveResult
from rapport.identity.service_layer.rules import WorkspaceRules
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.type.v1 import identifier_pb2
from rapport.wellknowntypes import (
    serialized_size,
    to_datetime,
    to_duration,
    to_timedelta,
    to_timestamp,
)

_NORMALIZATIONS = {
    pb.NORMALIZATION_UNSPECIFIED: Normalization.UNSPECIFIED,
    pb.NORMALIZATION_TRIM: Normalization.TRIM,
    pb.NORMALIZATION_EMAIL: Normalization.EMAIL,
    pb.NORMALIZATION_PHONE: Normalization.PHONE,
    pb.NORMALIZATION_LOWERCASE: Normalization.LOWERCASE,
}
_NORMALIZATION_NUMBERS = {value: key for key, value in _NORMALIZATIONS.items()}
_CHANGE_KIND_NUMBERS = {
    ChangeKind.CREATED: pb.CHANGE_KIND_CREATED,
    ChangeKind.MERGED: pb.CHANGE_KIND_MERGED,
    ChangeKind.UNMERGED: pb.CHANGE_KIND_UNMERGED,
    ChangeKind.ERASED: pb.CHANGE_KIND_ERASED,
    ChangeKind.RULES_UPDATED: pb.CHANGE_KIND_RULES_UPDATED,
}
_JOB_STATE_NUMBERS = {
    JobState.PENDING: pb.JOB_STATE_PENDING,
    JobState.RUNNING: pb.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: pb.JOB_STATE_SUCCEEDED,
    JobState.FAILED: pb.JOB_STATE_FAILED,
}
_REVIEW_STATES = {
    pb.REVIEW_STATE_PENDING: ReviewState.PENDING,
    pb.REVIEW_STATE_ACCEPTED: ReviewState.ACCEPTED,
    pb.REVIEW_STATE_REJECTED: ReviewState.REJECTED,
}
_REVIEW_STATE_NUMBERS = {state: number for number, state in _REVIEW_STATES.items()}
_REVIEW_DECISIONS = {
    pb.REVIEW_DECISION_ACCEPT: ReviewDecision.ACCEPT,
    pb.REVIEW_DECISION_REJECT: ReviewDecision.REJECT,
}
E = TypeVar("E")

_ATTRIBUTE_FIELDS = frozenset(pb.PersonAttributes.DESCRIPTOR.fields_by_name)


# --- decoding -----------------------------------------------------------------------------


def resolve_command(request: pb.ResolveRequest, *, prefix: str = "") -> commands.Resolve:
    return commands.Resolve(
        parent=request.parent,
        identifiers=tuple(
            commands.RawIdentifier(identifier.type, identifier.value)
            for identifier in request.identifiers
        ),
        source=request.source,
        observe_time=to_datetime(request, "observe_time", field_path=f"{prefix}observe_time"),
        attributes=(
            {field.name: value for field, value in request.attributes.ListFields()}
            if request.HasField("attributes")
            else {}
        ),
        link_all_or_nothing=request.link_all_or_nothing,
    )


def raw_identifier(message: identifier_pb2.Identifier) -> commands.RawIdentifier:
    return commands.RawIdentifier(message.type, message.value)


def record_attributes(message: pb.PersonAttributes) -> dict[str, str]:
    """A bare record of FindMatches: every matched attribute, empty ones included."""
    return {name: getattr(message, name) for name in ATTRIBUTES}


def rules_from_pb(message: pb.IdentityRules) -> IdentityRules:
    types = []
    for index, rule in enumerate(message.identifier_types):
        field = f"identity_rules.identifier_types[{index}]"
        normalization = _NORMALIZATIONS.get(rule.normalization)
        if normalization is None:
            raise InvalidArgument(f"{field}.normalization", "unknown value")
        window = to_timedelta(rule, "limit_window", field_path=f"{field}.limit_window")
        types.append(
            IdentifierTypeRule(
                type=rule.type,
                normalization=normalization,
                fold_email_provider=rule.fold_email_provider,
                default_phone_region=rule.default_phone_region,
                limit=rule.limit,
                limit_window=window,
                blocked_patterns=tuple(rule.blocked_patterns),
            )
        )
    return IdentityRules(
        identifier_types=tuple(types),
        matching=MatchingThresholds(
            merge_threshold=message.matching.merge_threshold,
            review_threshold=message.matching.review_threshold,
        ),
    )


def review_state(number: int) -> ReviewState | None:
    """None for UNSPECIFIED; numbers this version does not know are refused."""
    return _enum(_REVIEW_STATES, number, field="state")


def review_decision(number: int) -> ReviewDecision | None:
    return _enum(_REVIEW_DECISIONS, number, field="decision")


def _enum(values: dict[int, E], number: int, *, field: str) -> E | None:
    if number == 0:
        return None
    try:
        return values[number]
    except KeyError:
        raise InvalidArgument(field, "is not a known value") from None


# --- encoding -----------------------------------------------------------------------------


def _identifier(type_: str, value: str) -> identifier_pb2.Identifier:
    return identifier_pb2.Identifier(type=type_, value=value)


def customer_to_pb(customer: Customer) -> pb.Customer:
    return pb.Customer(
        name=customer.name,
        identifiers=[_identifier(i.type, i.value) for i in customer.identifiers],
        create_time=to_timestamp(customer.create_time),
        update_time=to_timestamp(customer.update_time),
        merged_customers=customer.merged_customer_names,
        attributes=pb.PersonAttributes(
            **{k: v for k, v in customer.attributes.items() if k in _ATTRIBUTE_FIELDS}
        ),
    )


def resolve_response(result: ResolveResult) -> pb.ResolveResponse:
    # No customer when nothing was linked (see rejected_identifiers).
    return pb.ResolveResponse(
        customer=None if result.customer is None else customer_to_pb(result.customer),
        created=result.created,
        merged_customers=result.merged_customer_names,
        rejected_identifiers=[
            pb.RejectedIdentifier(
                identifier=_identifier(r.identifier.type, r.identifier.value),
                reason=str(r.reason),
                description=r.description,
            )
            for r in result.rejected
        ],
    )


def rules_to_pb(found: WorkspaceRules) -> pb.IdentityRules:
    rules = found.rules
    message = pb.IdentityRules(
        name=found.name,
        identifier_types=[_type_rule_to_pb(rule) for rule in rules.identifier_types],
        matching=pb.MatchingThresholds(
            merge_threshold=rules.matching.merge_threshold,
            review_threshold=rules.matching.review_threshold,
        ),
    )
    if rules.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(rules.update_time))
    return message


def _type_rule_to_pb(rule: IdentifierTypeRule) -> pb.IdentifierTypeRule:
    message = pb.IdentifierTypeRule(
        type=rule.type,
        normalization=_NORMALIZATION_NUMBERS[rule.normalization],
        fold_email_provider=rule.fold_email_provider,
        default_phone_region=rule.default_phone_region,
        limit=rule.limit,
        blocked_patterns=list(rule.blocked_patterns),
    )
    if rule.limit_window is not None:
        message.limit_window.CopyFrom(to_duration(rule.limit_window))
    return message


def change_to_pb(change: Change, workspace: str) -> pb.Change:
    return pb.Change(
        cursor=str(change.cursor),
        kind=_CHANGE_KIND_NUMBERS[change.kind],
        customer=names.customer_name(workspace, change.customer_id) if change.customer_id else "",
        other_customers=[
            names.customer_name(workspace, other) for other in change.other_customer_ids
        ],
        create_time=to_timestamp(change.create_time),
    )


class ChangeResponses:
    """The service layer's ChangeEncoder: WatchChanges responses of this contract."""

    def response(
        self, workspace: str, change: Change, skipped_change_count: int
    ) -> pb.WatchChangesResponse:
        return pb.WatchChangesResponse(
            change=change_to_pb(change, workspace), skipped_change_count=skipped_change_count
        )

    def size(self, encoded: pb.WatchChangesResponse) -> int:
        return serialized_size(encoded)


def match_to_pb(match: Match) -> pb.Match:
    return _match(match.customer_name, match.probability, match.match_weight, match.comparisons)


def _match(
    customer: str,
    probability: float,
    match_weight: float,
    comparisons: list[tuple[str, str, float]],
) -> pb.Match:
    return pb.Match(
        customer=customer,
        probability=probability,
        match_weight=match_weight,
        comparisons=[
            pb.AttributeComparison(attribute=attribute, level=level, bayes_factor=factor)
            for attribute, level, factor in comparisons
        ],
    )


def job_to_pb(job: DeduplicationJob) -> pb.DeduplicationJob:
    message = pb.DeduplicationJob(
        name=job.name,
        state=_JOB_STATE_NUMBERS[job.state],
        progress=job.progress,
        thresholds=pb.MatchingThresholds(
            merge_threshold=job.thresholds.merge, review_threshold=job.thresholds.review
        ),
        record_count=job.record_count,
        candidate_pair_count=job.candidate_pair_count,
        merged_count=job.merged_count,
        review_count=job.review_count,
        error=job.error,
        create_time=to_timestamp(job.create_time),
    )
    if job.end_time is not None:
        message.end_time.CopyFrom(to_timestamp(job.end_time))
    return message


def review_to_pb(review: MatchReview) -> pb.MatchReview:
    message = pb.MatchReview(
        name=review.name,
        match=_match(
            review.customer_b_name, review.probability, review.match_weight, review.comparisons
        ),
        customer=review.customer_a_name,
        state=_REVIEW_STATE_NUMBERS[review.state],
        deduplication_job=review.job_name,
        create_time=to_timestamp(review.create_time),
    )
    if review.review_time is not None:
        message.review_time.CopyFrom(to_timestamp(review.review_time))
    return message
