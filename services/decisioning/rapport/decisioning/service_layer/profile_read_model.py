"""Decide's profiles kept in this process while profile's signals are followed.

Decide needs the customer's profile; asking profile each time costs a round trip. With
`profile_cache_seconds` set, a profile read for Decide is kept and served again:

- only while this process follows the workspace's signals (ProfileService.WatchSignals,
  every kind): each signal of a customer (event seen, trait changed, segment entered
  or left, life stage changed) drops that customer's profile, so the next Decide asks
  profile again; a signal profile says it skipped drops the whole workspace;
- for at most `profile_cache_seconds` after it was read (the bound for what no signal
  announces, such as an erasure in profile, and for the signal's own delay);
- never across a break of the stream: when it fails or ends, the workspace's profiles
  are dropped and every Decide asks profile until the stream is followed again (from
  the last signal seen, so none is missed in between);
- never when a signal of the customer arrived while it was being read (that answer
  may predate the change).

No profile (unknown or erased customer) and failures are never kept. This process's
own erasure of a customer (EraseCustomerDecisions) drops it at once. Triggered
decisions do not use it: they act on a signal and read the profile it changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from contextlib import aclosing

from rapport.decisioning.domain.outbound import CustomerProfile

from .dependencies import ProfileClient

log = logging.getLogger(__name__)

MAX_PROFILES = 100_000
RETRY_INITIAL_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class ProfileReadModel:
    def __init__(
        self,
        profile: ProfileClient,
        workspaces: Collection[str],
        validity_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_profiles: int = MAX_PROFILES,
        retry_seconds: float = RETRY_INITIAL_SECONDS,
        max_retry_seconds: float = RETRY_MAX_SECONDS,
    ) -> None:
        self._profile = profile
        self._workspaces = tuple(sorted(workspaces))
        self._validity = validity_seconds
        self._monotonic = monotonic
        self._max = max_profiles
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds
        # customer -> (workspace, profile, when read)
        self._profiles: dict[str, tuple[str, CustomerProfile, float]] = {}
        # Workspaces whose signal stream is open now.
        self._following: set[str] = set()
        # Reads in flight per customer, and the customers a signal dropped meanwhile.
        self._reading: dict[str, int] = {}
        self._dropped_while_reading: set[str] = set()
        # Bumped when a workspace is dropped whole: a read begun before is not kept.
        self._epoch: dict[str, int] = {}

    def following(self, workspace: str) -> bool:
        return workspace in self._following

    async def get_profile(self, workspace: str, customer: str) -> CustomerProfile | None:
        """The customer's profile (None: profile has none); DependencyError as the
        client raises it."""
        if workspace not in self._following:
            return await self._profile.get_profile(customer)
        kept = self._profiles.get(customer)
        if kept is not None and self._monotonic() - kept[2] < self._validity:
            return kept[1]
        epoch = self._epoch.get(workspace, 0)
        self._reading[customer] = self._reading.get(customer, 0) + 1
        try:
            profile = await self._profile.get_profile(customer)
            stale = customer in self._dropped_while_reading
        finally:
            left = self._reading.pop(customer) - 1
            if left:
                self._reading[customer] = left
            else:
                self._dropped_while_reading.discard(customer)
        if (
            profile is not None
            and not stale
            and workspace in self._following
            and self._epoch.get(workspace, 0) == epoch
        ):
            self._keep(workspace, customer, profile)
        return profile

    def _keep(self, workspace: str, customer: str, profile: CustomerProfile) -> None:
        self._profiles.pop(customer, None)
        if len(self._profiles) >= self._max:
            # The oldest read first (dicts keep insertion order).
            del self._profiles[next(iter(self._profiles))]
        self._profiles[customer] = (workspace, profile, self._monotonic())

    def forget(self, customer: str) -> None:
        """Read the customer's profile from profile next time (a signal, an erasure)."""
        self._profiles.pop(customer, None)
        if customer in self._reading:
            self._dropped_while_reading.add(customer)

    def forget_workspace(self, workspace: str) -> None:
        self._epoch[workspace] = self._epoch.get(workspace, 0) + 1
        for customer in [c for c, kept in self._profiles.items() if kept[0] == workspace]:
            del self._profiles[customer]

    async def run(self, start_cursor: Callable[[str], Awaitable[str]] | None = None) -> None:
        """Follow every workspace's signals until cancelled, each from `start_cursor`
        (a recent position such as the trigger runner's: the signals before it only
        drop profiles read before them) or from the oldest retained signal."""

        async def follow(workspace: str) -> None:
            cursor = ""
            if start_cursor is not None:
                try:
                    cursor = await start_cursor(workspace)
                except Exception:  # only a starting point: from the oldest instead
                    log.warning("no start cursor for profile signals", exc_info=True)
            await self.follow(workspace, cursor)

        async with asyncio.TaskGroup() as group:
            for workspace in self._workspaces:
                group.create_task(follow(workspace), name=f"profile-signals:{workspace}")

    async def follow(self, workspace: str, start_cursor: str = "") -> None:
        """Follow one workspace's signals forever, resuming after the last one seen."""
        cursor = start_cursor
        delay = self._retry
        while True:
            try:
                async with aclosing(self._profile.watch_signals(workspace, cursor)) as signals:
                    self._following.add(workspace)
                    async for signal in signals:
                        if signal.skipped_before:
                            self.forget_workspace(workspace)
                        if signal.customer:
                            self.forget(signal.customer)
                        if signal.cursor:
                            cursor = signal.cursor
                        delay = self._retry
                log.info("profile signal stream ended", extra={"workspace": workspace})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: ask profile until followed again
                log.warning(
                    "profile signal stream broken; Decide reads profiles from profile",
                    extra={"workspace": workspace, "error_reason": type(exc).__name__},
                )
            finally:
                self._following.discard(workspace)
                self.forget_workspace(workspace)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry)
