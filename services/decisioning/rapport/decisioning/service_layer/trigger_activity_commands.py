"""What the trigger activity use cases are asked to do, decoded from protobuf."""

from __future__ import annotations

from dataclasses import dataclass

from rapport.decisioning.domain.trigger_activity import ActivityOutcome

from .commands import UnknownEnumValue


@dataclass(frozen=True)
class GetTriggerActivity:
    name: str


@dataclass(frozen=True)
class ListTriggerActivities:
    # A trigger's name, or its id `-` (names.ALL_TRIGGERS) for every trigger.
    parent: str
    page_size: int = 0
    page_token: str = ""
    # A customer's name; empty means every customer.
    customer: str = ""
    # None means every outcome.
    outcome: ActivityOutcome | UnknownEnumValue | None = None
