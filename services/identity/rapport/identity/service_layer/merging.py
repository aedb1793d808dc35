"""merge_customers for deduplication jobs and accepted reviews (implemented with Resolve's path)."""

from __future__ import annotations

from .resolving import MergeOutcome, merge_customer_groups, merge_customers

__all__ = ["MergeOutcome", "merge_customer_groups", "merge_customers"]
