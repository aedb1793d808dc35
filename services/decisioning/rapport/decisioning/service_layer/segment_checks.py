"""The segments triggers name, confirmed with profile before the triggers are saved or
published: a SEGMENT_ENTERED/SEGMENT_EXITED trigger on a segment profile does not have
would never fire.

Profile is asked outside any transaction (never while the draft's lock is held): the
edit runs, and when it meets a segment not confirmed yet it stops, nothing written;
the segments are asked, and the edit runs again with them confirmed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from rapport.decisioning.domain.model import Trigger
from rapport.decisioning.domain.outbound import DependencyError
from rapport.decisioning.domain.signals import TriggerKind
from rapport.errors import Aborted, FailedPrecondition

from .decisions import dependency_failure
from .dependencies import Dependencies
from .draft import edit_draft
from .unit_of_work import DecisioningUnitOfWork

T = TypeVar("T")

SEGMENT_NOT_FOUND = "SEGMENT_NOT_FOUND"
SEGMENT_KINDS = frozenset({TriggerKind.SEGMENT_ENTERED, TriggerKind.SEGMENT_EXITED})
# Edits redone because the draft changed to name yet other segments meanwhile.
MAX_ROUNDS = 3


class _Unconfirmed(Exception):
    """Raised inside the edit (rolling it back): these segments must be asked first."""

    def __init__(self, wanted: list[tuple[str, Trigger]]) -> None:
        super().__init__(f"{len(wanted)} segment(s) to confirm")
        self.wanted = wanted


class SegmentCheck:
    """The segments profile confirmed during one call."""

    def __init__(self) -> None:
        self._confirmed: set[str] = set()

    def require(self, triggers: Iterable[Trigger], field: str) -> None:
        """Inside the edit: stop it unless every segment the triggers name is confirmed.
        `field` names the segment in the error (`trigger.segment`)."""
        self.require_placed((field, trigger) for trigger in triggers)

    def require_placed(self, placed: Iterable[tuple[str, Trigger]]) -> None:
        """`require`, each trigger with its own field (its place in a document:
        `triggers[2].segment`)."""
        wanted = [
            (field, trigger)
            for field, trigger in placed
            if trigger.kind in SEGMENT_KINDS and trigger.segment not in self._confirmed
        ]
        if wanted:
            raise _Unconfirmed(wanted)

    async def confirm(self, deps: Dependencies, wanted: list[tuple[str, Trigger]]) -> None:
        """Ask profile, in order: FAILED_PRECONDITION naming the field and the first missing
        segment; UNAVAILABLE when profile cannot be reached."""
        for field, trigger in wanted:
            if trigger.segment in self._confirmed:
                continue
            try:
                exists = await deps.profile.segment_exists(trigger.segment)
            except DependencyError as err:
                raise dependency_failure(err) from err
            if not exists:
                raise FailedPrecondition(
                    SEGMENT_NOT_FOUND,
                    f"{field}: profile has no segment {trigger.segment} (trigger "
                    f"{trigger.name}); create the segment in profile first",
                    {"field": field, "segment": trigger.segment, "trigger": trigger.name},
                )
            self._confirmed.add(trigger.segment)


async def edit_draft_with_segments(
    deps: Dependencies,
    workspace: str,
    work: Callable[[DecisioningUnitOfWork, SegmentCheck], Awaitable[T]],
) -> T:
    """edit_draft(`work`), where `work` calls `check.require(...)` before writing."""
    check = SegmentCheck()
    for _ in range(MAX_ROUNDS):
        try:
            return await edit_draft(deps, workspace, lambda uow: work(uow, check))
        except _Unconfirmed as unconfirmed:
            await check.confirm(deps, unconfirmed.wanted)
    raise Aborted(
        "CONCURRENT_UPDATE", "the draft's triggers kept changing under this call; retry it"
    )
