"""The identity service's resource names, formatted and parsed here and nowhere else.

Parsing a malformed name raises InvalidArgument naming the request field; whether
the workspace is served and the named resource exists is for the service layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapport.resourcenames import format_name, parse_name

WORKSPACE_PATTERN = "workspaces/{workspace}"
CUSTOMER_PATTERN = "workspaces/{workspace}/customers/{customer}"
DEDUPLICATION_JOB_PATTERN = "workspaces/{workspace}/deduplicationJobs/{job}"
MATCH_REVIEW_PATTERN = "workspaces/{workspace}/matchReviews/{review}"
IDENTITY_RULES_PATTERN = "workspaces/{workspace}/identityRules"


@dataclass(frozen=True, slots=True)
class CustomerName:
    workspace: str
    customer: str


@dataclass(frozen=True, slots=True)
class DeduplicationJobName:
    workspace: str
    job: str


@dataclass(frozen=True, slots=True)
class MatchReviewName:
    workspace: str
    review: str


# --- formatting ---------------------------------------------------------------------------


def workspace_name(workspace: str) -> str:
    return format_name(WORKSPACE_PATTERN, workspace=workspace)


def customers_collection(workspace: str) -> str:
    """``workspaces/{workspace}/customers``: the resource of a lookup that found nobody."""
    return f"{workspace_name(workspace)}/customers"


def customer_name(workspace: str, customer: str) -> str:
    # Formatted straight from the pattern: BatchResolve names thousands of customers.
    return CUSTOMER_PATTERN.format(workspace=workspace, customer=customer)


def deduplication_job_name(workspace: str, job: str) -> str:
    return format_name(DEDUPLICATION_JOB_PATTERN, workspace=workspace, job=job)


def match_review_name(workspace: str, review: str) -> str:
    return format_name(MATCH_REVIEW_PATTERN, workspace=workspace, review=review)


def identity_rules_name(workspace: str) -> str:
    return format_name(IDENTITY_RULES_PATTERN, workspace=workspace)


# --- parsing ------------------------------------------------------------------------------


def parse_workspace(value: str, *, field: str) -> str:
    """The workspace id of ``workspaces/{workspace}``."""
    return parse_name(WORKSPACE_PATTERN, value, field=field)["workspace"]


def parse_customer(value: str, *, field: str) -> CustomerName:
    ids = parse_name(CUSTOMER_PATTERN, value, field=field)
    return CustomerName(ids["workspace"], ids["customer"])


def parse_deduplication_job(value: str, *, field: str) -> DeduplicationJobName:
    ids = parse_name(DEDUPLICATION_JOB_PATTERN, value, field=field)
    return DeduplicationJobName(ids["workspace"], ids["job"])


def parse_match_review(value: str, *, field: str) -> MatchReviewName:
    ids = parse_name(MATCH_REVIEW_PATTERN, value, field=field)
    return MatchReviewName(ids["workspace"], ids["review"])


def parse_identity_rules(value: str, *, field: str) -> str:
    """The workspace id of ``workspaces/{workspace}/identityRules``."""
    return parse_name(IDENTITY_RULES_PATTERN, value, field=field)["workspace"]
