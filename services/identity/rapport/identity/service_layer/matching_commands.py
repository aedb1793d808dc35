"""Matching use cases as plain data (raw client input, validated by the matching handlers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
class ListMatchReviews:
    parent: str
    state: str = ""  # a ReviewState value; empty: PENDING
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ReviewMatch:
    name: str
    decision: str = ""  # a ReviewDecision value; empty: refused
