"""Deduplication jobs and match reviews: states, thresholds, clustering of matched pairs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .names import customer_name, deduplication_job_name, match_review_name
from .rules import DEFAULT_MERGE_THRESHOLD, DEFAULT_REVIEW_THRESHOLD, checked_thresholds


class JobState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


ACTIVE_JOB_STATES = (JobState.PENDING, JobState.RUNNING)


class ReviewState(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class ReviewDecision(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"


@dataclass(frozen=True)
class Thresholds:
    """Pairs at or above ``merge`` are merged; pairs in [review, merge) are reviewed."""

    merge: float = DEFAULT_MERGE_THRESHOLD
    review: float = DEFAULT_REVIEW_THRESHOLD

    @classmethod
    def from_requested(cls, merge: float, review: float, *, defaults: Thresholds) -> Thresholds:
        """Requested values (0 = the default), validated: 0 <= review <= merge <= 1
        (rules.InvalidThresholds otherwise)."""
        merge, review = checked_thresholds(
            merge, review, default_merge=defaults.merge, default_review=defaults.review
        )
        return cls(merge=merge, review=review)


@dataclass(frozen=True)
class DeduplicationJob:
    workspace: str
    id: str
    state: JobState
    progress: float
    thresholds: Thresholds
    create_time: datetime
    record_count: int = 0
    candidate_pair_count: int = 0
    merged_count: int = 0
    review_count: int = 0
    error: str = ""
    end_time: datetime | None = None

    @property
    def name(self) -> str:
        return deduplication_job_name(self.workspace, self.id)


@dataclass(frozen=True)
class MatchReview:
    """A pair of customers (customer_a < customer_b) waiting for, or given, a decision."""

    workspace: str
    id: str
    customer_a: str
    customer_b: str
    probability: float
    # {"match_weight": float, "comparisons": [[attribute, level, bayes_factor], ...]}
    details: dict[str, Any]
    state: ReviewState
    create_time: datetime
    job_id: str | None = None
    review_time: datetime | None = None

    @property
    def name(self) -> str:
        return match_review_name(self.workspace, self.id)

    @property
    def customer_a_name(self) -> str:
        return customer_name(self.workspace, self.customer_a)

    @property
    def customer_b_name(self) -> str:
        return customer_name(self.workspace, self.customer_b)

    @property
    def job_name(self) -> str:
        """The deduplication job that queued it ("" for none)."""
        return deduplication_job_name(self.workspace, self.job_id) if self.job_id else ""

    @property
    def match_weight(self) -> float:
        return float(self.details.get("match_weight", 0.0))

    @property
    def comparisons(self) -> list[tuple[str, str, float]]:
        return [
            (str(attribute), str(level), float(factor))
            for attribute, level, factor in self.details.get("comparisons", [])
        ]


def ordered_pair(first: str, second: str) -> tuple[str, str]:
    """Pairs of customers are stored smallest id first."""
    return (first, second) if first < second else (second, first)


@dataclass
class _DisjointSets:
    parent: dict[str, str] = field(default_factory=dict)

    def find(self, item: str) -> str:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, first: str, second: str) -> None:
        first_root, second_root = self.find(first), self.find(second)
        if first_root != second_root:
            # Smallest id as root: clusters come out the same whatever the pair order.
            low, high = sorted((first_root, second_root))
            self.parent[high] = low


def clusters(pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Connected components of the pairs' graph (each sorted; components by first id)."""
    sets = _DisjointSets()
    for first, second in pairs:
        sets.union(first, second)
    components: dict[str, list[str]] = {}
    for item in sets.parent:
        components.setdefault(sets.find(item), []).append(item)
    return sorted((sorted(members) for members in components.values()), key=lambda c: c[0])
