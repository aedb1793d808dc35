"""The identity graph's vocabulary: identifiers, customers, observations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from .names import customer_name


class Identifier(NamedTuple):
    """A normalised identifier: unique per workspace, linked to at most one customer.

    A named tuple rather than a dataclass: batches hash and sort thousands of them,
    and tuple hashing and ordering run in C.
    """

    type: str
    value: str


@dataclass(frozen=True)
class CustomerRecord:
    """A customer's own row: a merged customer points at the customer it now lives in."""

    id: str
    create_time: datetime
    update_time: datetime
    merged_into: str | None = None
    # PersonAttributes (non-empty fields only).
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Customer:
    """A live customer as clients see it."""

    workspace: str
    id: str
    create_time: datetime
    update_time: datetime
    identifiers: tuple[Identifier, ...]
    merged_customer_ids: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def name(self) -> str:
        return customer_name(self.workspace, self.id)

    @property
    def merged_customer_names(self) -> list[str]:
        return [customer_name(self.workspace, merged) for merged in self.merged_customer_ids]


@dataclass(frozen=True)
class Observation:
    """Identifiers seen together by a source at a time (already normalised, deduplicated)."""

    identifiers: tuple[Identifier, ...]
    source: str
    observe_time: datetime
    # PersonAttributes seen with the identifiers (non-empty fields only).
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)
    # The identifiers assert one person (an alias): link all of them or change nothing.
    link_all_or_nothing: bool = False


class ChangeKind(StrEnum):
    """Kinds of entries in the identity change log (streamed by WatchChanges)."""

    CREATED = "created"
    MERGED = "merged"
    UNMERGED = "unmerged"  # customer = the split customer, other = a restored one
    ERASED = "erased"
    # The workspace's identity rules changed (no customer): kept answers are stale.
    RULES_UPDATED = "rules_updated"


@dataclass(frozen=True)
class IdentityChange:
    """One entry of the change log; ``other_customer_id`` is the merged customer of a merge."""

    kind: ChangeKind
    customer_id: str
    other_customer_id: str | None = None


@dataclass(frozen=True)
class Change:
    """One entry of WatchChanges: consecutive log entries of one commit (same time),
    same kind and customer; ``cursor`` is the last entry's."""

    cursor: int
    kind: ChangeKind
    customer_id: str
    other_customer_ids: tuple[str, ...]
    create_time: datetime

    def joined(self, later: Change) -> Change | None:
        """This change and the log entry right after it as one Change (None: they differ).

        Creations are never joined: each names its own customer.
        """
        if (
            later.kind is not self.kind
            or self.kind is ChangeKind.CREATED
            or later.customer_id != self.customer_id
            or later.create_time != self.create_time
            or later.cursor != self.cursor + 1
        ):
            return None
        return Change(
            later.cursor,
            self.kind,
            self.customer_id,
            self.other_customer_ids + later.other_customer_ids,
            later.create_time,
        )
