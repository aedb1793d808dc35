"""The backfill of TIME_WINDOW triggers: the customers who held the date before the
trigger was live.

A trait-changed signal schedules a window only while its trigger is live; a trigger
published when customers already hold the date would otherwise never fire for them.
So, for every live TIME_WINDOW trigger whose definition (date trait, years, offset) has
not been backfilled yet, the customers holding its date trait are read from profile's
ListProfiles (only the date and time-zone traits) and each is scheduled as a signal
would (trigger_kinds.schedule_windows: erased customers skipped, the same date again
changes nothing). Each page's schedules and the page token to resume from are written in
one transaction (trigger_backfills), so a restart resumes where it stopped and nothing
is scheduled twice. One replica runs a trigger's backfill at a time (a claim renewed
each page, free again `lease` after its holder stopped). Profile unreachable: the page
is asked again later, with backoff.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapport.decisioning.adapters.backfill_repository import TriggerBackfill
from rapport.decisioning.domain.model import Trigger, TriggerKind
from rapport.decisioning.domain.outbound import DependencyError, ProfilePage
from rapport.sqlstore import run_with_retries

from .dependencies import Dependencies
from .trigger_kinds import schedule_windows
from .trigger_runner import Backoff
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

# Profiles asked per ListProfiles page (and scheduled per transaction).
PAGE_SIZE = 500
DEFAULT_LEASE = timedelta(minutes=5)


def definition_of(trigger: Trigger) -> str:
    """What the schedule of a window depends on: a change of it backfills again."""
    return f"{trigger.date_trait}|{trigger.years_after}|{trigger.offset_days}"


class BackfillState(enum.Enum):
    # Not live with this definition yet, or not started.
    PENDING = 1
    RUNNING = 2
    SUCCEEDED = 3


@dataclass(frozen=True)
class BackfillView:
    """Where a trigger's backfill stands, as the API shows it on the trigger."""

    state: BackfillState
    profile_count: int = 0
    complete_time: datetime | None = None


async def backfill_views(
    triggers: Sequence[Trigger], deps: Dependencies
) -> dict[str, BackfillView]:
    """The backfill of each TIME_WINDOW trigger (of one workspace), by trigger name: for
    the definition the trigger has now (a draft redefined since is PENDING again)."""
    windows = [t for t in triggers if t.kind is TriggerKind.TIME_WINDOW]
    if not windows:
        return {}
    async with deps.uow(readonly=True) as uow:
        records = await uow.trigger_backfills.of_workspace(windows[0].workspace)
    views = {}
    for trigger in windows:
        record = records.get(trigger.trigger_id)
        if record is None or record.definition != definition_of(trigger):
            views[trigger.name] = BackfillView(BackfillState.PENDING)
        else:
            state = (
                BackfillState.RUNNING if record.complete_time is None else BackfillState.SUCCEEDED
            )
            views[trigger.name] = BackfillView(state, record.profile_count, record.complete_time)
    return views


class WindowBackfiller:
    """Backfills the workspaces' TIME_WINDOW triggers, looking for new ones every
    `poll_seconds`."""

    def __init__(
        self,
        deps: Dependencies,
        *,
        poll_seconds: float = 5.0,
        lease: timedelta = DEFAULT_LEASE,
        page_size: int | None = None,
        backoff_initial_seconds: float = 0.2,
        backoff_max_seconds: float = 5.0,
    ) -> None:
        self._deps = deps
        self._poll = poll_seconds
        self._lease = lease
        self._page_size = page_size or PAGE_SIZE
        self._backoff = Backoff(backoff_initial_seconds, backoff_max_seconds)
        # This replica's name in the claims.
        self._owner = uuid.uuid4().hex

    async def pass_once(self) -> int:
        """Backfill every live window not backfilled yet for its definition; how many
        profiles were scheduled. A failure (profile or the database unreachable) ends
        the pass: the next one resumes from the last page recorded."""
        scheduled = 0
        for workspace in sorted(self._deps.workspaces):
            config = await self._deps.live.get(workspace)
            windows = config.triggers_of_kind(TriggerKind.TIME_WINDOW)
            live = [t.trigger_id for t in windows]
            # One read per pass; a write only when there is something to do (once every
            # backfill is done, a pass holds no write lock).
            async with self._deps.uow(readonly=True) as uow:
                records = await uow.trigger_backfills.of_workspace(workspace)
            if records.keys() - set(live):
                await run_with_retries(
                    self._deps.uow,
                    lambda uow, w=workspace, ids=live: uow.trigger_backfills.forget_others(w, ids),
                    description="the trigger backfill kept conflicting",
                )
            for trigger in windows:
                record = records.get(trigger.trigger_id)
                if record is None or not record.done_for(definition_of(trigger)):
                    scheduled += await self._backfill(workspace, trigger)
        return scheduled

    async def _backfill(self, workspace: str, trigger: Trigger) -> int:
        deps = self._deps
        now = deps.clock()
        definition = definition_of(trigger)
        backfill = await run_with_retries(
            deps.uow,
            lambda uow: uow.trigger_backfills.claim(
                workspace, trigger.trigger_id, definition, self._owner, now, now + self._lease
            ),
            description="the trigger backfill kept conflicting",
        )
        scheduled = 0
        while backfill is not None:
            read_at = deps.clock()
            page = await self._page(backfill, trigger)
            kept = await run_with_retries(
                deps.uow,
                lambda uow, b=backfill, p=page, r=read_at: self._schedule_page(
                    uow, b, trigger, p, r
                ),
                description="the trigger backfill kept conflicting",
            )
            if kept is None:
                break  # claim lost (another replica took over) or the trigger redefined
            scheduled += len(page.profiles)
            backfill = kept if page.next_page_token else None
        if scheduled:
            log.info(
                "time-window trigger backfilled",
                extra={"workspace": workspace, "trigger": trigger.name, "count": scheduled},
            )
        return scheduled

    async def _page(self, backfill: TriggerBackfill, trigger: Trigger) -> ProfilePage:
        keys = list(dict.fromkeys([trigger.date_trait, self._deps.window_timing.zone_trait]))
        try:
            return await self._deps.profile.list_profiles(
                backfill.workspace, trigger.date_trait, keys, backfill.page_token, self._page_size
            )
        except DependencyError as err:
            if err.code == "INVALID_ARGUMENT" and backfill.page_token:
                # A token profile no longer reads (its key changed): from the start again
                # (what was scheduled stays, and scheduling it again changes nothing).
                log.warning(
                    "trigger backfill restarts: profile refused its page token",
                    extra={"workspace": backfill.workspace, "trigger": trigger.name},
                )
                return await self._deps.profile.list_profiles(
                    backfill.workspace, trigger.date_trait, keys, "", self._page_size
                )
            raise

    async def _schedule_page(
        self,
        uow: DecisioningUnitOfWork,
        backfill: TriggerBackfill,
        trigger: Trigger,
        page: ProfilePage,
        read_at: datetime,
    ) -> TriggerBackfill | None:
        """The page's customers scheduled and the backfill advanced, in one transaction;
        None (nothing written) when the claim was lost. A customer's firing written after
        the page was read (a trait-changed signal) is newer than the page, and stays."""
        deps = self._deps
        timing = deps.window_timing
        now = deps.clock()
        until = now + self._lease
        if not await uow.trigger_backfills.advance(
            backfill, self._owner, page.next_page_token, len(page.profiles), now, until
        ):
            return None
        for profile in page.profiles:
            zone = timing.zone_of(profile.traits.get(timing.zone_trait))
            await schedule_windows(
                uow,
                backfill.workspace,
                profile.customer,
                [trigger],
                profile.traits.get(trigger.date_trait),
                zone,
                now,
                timing,
                read_at,
            )
        return TriggerBackfill(
            backfill.workspace,
            backfill.trigger_id,
            backfill.definition,
            page.next_page_token,
            backfill.profile_count + len(page.profiles),
            backfill.start_time,
            None,
        )

    async def run(self) -> None:
        while True:
            try:
                await self.pass_once()
            except Exception:
                # Never lost: the page is asked again after a pause (profile or the
                # database down, a claim race).
                log.warning("trigger backfill will be retried", exc_info=True)
                await self._backoff.sleep()
                continue
            self._backoff.reset()
            await asyncio.sleep(self._poll)
