"""Every use case's input as plain data: raw client values, validated by the handlers.

Protobuf is already decoded (enums, timestamps); names and values are as the client
sent them. Merge commands come from the service itself (deduplication jobs, reviews).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rapport.identity.domain.deduplication import ReviewDecision, ReviewState
from rapport.identity.domain.rules import IdentityRules

# --- resolve ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RawIdentifier:
    """An identifier as the client sent it, before normalisation."""

    type: str
    value: str


@dataclass(frozen=True)
class Resolve:
    parent: str
    identifiers: tuple[RawIdentifier, ...]
    source: str = ""
    observe_time: datetime | None = None  # None: the time of the call
    # PersonAttributes as sent: attribute name -> value (empty means unknown).
    attributes: Mapping[str, str] = field(default_factory=dict)
    # Link every identifier or change nothing (an alias); default: link what can be.
    link_all_or_nothing: bool = False


@dataclass(frozen=True)
class BatchResolve:
    parent: str
    requests: tuple[Resolve, ...]


@dataclass(frozen=True)
class MergeCustomers:
    """Merge customers into the oldest, under the rules Resolve applies."""

    workspace: str
    customer_ids: Sequence[str]
    source: str
    reason: str  # logged


@dataclass(frozen=True)
class MergeCustomerGroups:
    """MergeCustomers for many groups in one unit of work."""

    workspace: str
    groups: Sequence[Sequence[str]]
    source: str
    reason: str


# --- customers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GetCustomer:
    name: str


@dataclass(frozen=True)
class LookupCustomer:
    parent: str
    identifier: RawIdentifier


@dataclass(frozen=True)
class ListCustomers:
    parent: str
    page_size: int = 0
    page_token: str = ""


# --- identity rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class GetIdentityRules:
    name: str


@dataclass(frozen=True)
class UpdateIdentityRules:
    name: str
    identity_rules: IdentityRules
    update_mask: tuple[str, ...] = ()


# --- lifecycle and changes ------------------------------------------------------------------


@dataclass(frozen=True)
class UnmergeCustomer:
    name: str
    customers: tuple[str, ...] = ()  # empty: split off every merged customer


@dataclass(frozen=True)
class EraseCustomer:
    name: str
    block_identifiers: bool = False


@dataclass(frozen=True)
class WatchChanges:
    parent: str
    start_cursor: str = ""


# --- matching, deduplication jobs, match reviews ---------------------------------------------


@dataclass(frozen=True)
class FindMatches:
    parent: str
    customer: str = ""  # a customer name, or
    record: Mapping[str, str] | None = None  # PersonAttributes fields (None: not given)
    max_results: int = 0
    min_probability: float = 0.0


@dataclass(frozen=True)
class CreateDeduplicationJob:
    parent: str
    merge_threshold: float = 0.0  # 0: the workspace's rules
    review_threshold: float = 0.0


@dataclass(frozen=True)
class GetDeduplicationJob:
    name: str


@dataclass(frozen=True)
class ListDeduplicationJobs:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class GetMatchReview:
    name: str


@dataclass(frozen=True)
class ListMatchReviews:
    parent: str
    state: ReviewState | None = None  # None: PENDING
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ReviewMatch:
    name: str
    decision: ReviewDecision | None = None  # None: refused
