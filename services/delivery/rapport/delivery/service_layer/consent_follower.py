"""Cancel on revoke: a background component that follows each workspace's consent
ledger (ConsentService.WatchConsentRecords) from a cursor kept in delivery's database,
and cancels the queued and held messages of a customer for a purpose on a channel when
an opt-out for them is recorded (CANCELLED, reason CONSENT_REVOKED; their profile
events, `Email Cancelled`..., go to the outbox in the same transaction).

An opt-out only cancels while it is still the consent in force (asked of consent when
it is handled): following an old ledger, e.g. after a restart or from the start, never
cancels messages of a customer who opted in again since. Only the messages queued
before consent is asked are cancelled: one queued later (maybe after the customer
opted in again) is left to the check before sending. Messages a dispatcher holds
at that moment are left to it: consent is asked again right before every provider call
(sending.py), so they are suppressed instead. The cursor moves in the same transaction
as the cancellations, so each entry is handled at least once and handling is idempotent.
One entry that cannot be handled is logged and passed; a failed stream is resumed from
the cursor with backoff.
"""

from __future__ import annotations

import asyncio
import logging

from rapport.delivery.adapters.consent_feed import ConsentChange, ConsentFeed
from rapport.delivery.adapters.profile_client import ProfileNotFound
from rapport.delivery.adapters.upstream import UpstreamUnavailable, UpstreamUnreadable
from rapport.delivery.domain import consent, names, status
from rapport.delivery.domain.model import FailureReason
from rapport.errors import InvalidArgument

from .dependencies import Dependencies

_log = logging.getLogger(__name__)


class ConsentFollower:
    def __init__(
        self,
        deps: Dependencies,
        feed: ConsentFeed,
        *,
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 30.0,
    ) -> None:
        self._deps = deps
        self._feed = feed
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds

    async def run(self) -> None:
        """Forever: follow every workspace of the deployment at once."""
        async with asyncio.TaskGroup() as group:
            for workspace in sorted(self._deps.workspaces):
                group.create_task(self.follow(workspace))

    async def follow(self, workspace: str) -> None:
        """Follow one workspace's ledger forever, resuming after failures."""
        delay = self._retry
        while True:
            try:
                await self.catch_up(workspace)
                delay = self._retry  # the stream ended cleanly (server stopping): resume
            except UpstreamUnavailable as err:
                _log.warning(
                    "consent ledger stream failed; resuming",
                    extra={"workspace": workspace, "error_reason": err.failure_code},
                )
            except Exception as err:
                _log.error(
                    "following the consent ledger failed; resuming",
                    extra={"workspace": workspace, "error_reason": type(err).__name__},
                )
            await asyncio.sleep(delay * (0.5 + 0.5 * self._deps.uniform()))
            delay = min(delay * 2, self._max_retry)

    async def catch_up(self, workspace: str) -> None:
        """Handle the ledger from the stored cursor until the stream ends (or forever)."""
        async with self._deps.uow_factory(readonly=True) as uow:
            cursor = await uow.consent_cursors.get(workspace)
        async for change in self._feed.changes(workspace, after=cursor):
            await self.handle(workspace, change)

    async def handle(self, workspace: str, change: ConsentChange) -> list[str]:
        """Cancel what the opt-out forbids (if it still holds), and move the cursor."""
        customer_id = self._opted_out(workspace, change)
        # Read before consent is asked: a message queued after it is not cancelled.
        queued = await self._queued(workspace, customer_id, change) if customer_id else []
        cancel = bool(queued) and await self._still_denied(change)
        identifiers = await self._identifiers(change.customer) if cancel else ()
        now = self._deps.clock()
        cancelled: list[str] = []
        async with self._deps.uow_factory() as uow:
            if cancel:
                assert change.channel is not None and customer_id is not None
                cancelled = await uow.messages.cancel_pending(
                    workspace,
                    customer_id,
                    change.purpose,
                    change.channel,
                    now=now,
                    reason=FailureReason.CONSENT_REVOKED.value,
                    identifiers=identifiers,
                    among=queued,
                )
            await uow.consent_cursors.advance(workspace, change.cursor, now)
            await uow.commit()
        if cancelled:
            self._deps.loop.wakeup.set()  # their profile events are in the outbox
            _log.info(
                "queued messages cancelled: consent revoked",
                extra={
                    "workspace": workspace,
                    "count": len(cancelled),
                    "channel": str(change.channel),
                },
            )
        return cancelled

    async def _identifiers(self, customer: str) -> tuple[tuple[str, str], ...]:
        """The customer's identifiers, for the profile events of messages never attempted
        (an attempt stores them); none when the profile cannot be read: the
        cancellation does not wait for profile."""
        try:
            profile = await self._deps.profiles.get_profile(customer)
        except (ProfileNotFound, UpstreamUnavailable, UpstreamUnreadable) as err:
            _log.warning(
                "profile not read for cancelled messages' events",
                extra={"error_reason": type(err).__name__},
            )
            return ()
        return status.identifiers_from(profile.traits, dict(self._deps.loop.identifier_traits))

    def _opted_out(self, workspace: str, change: ConsentChange) -> str | None:
        """The id of the customer of `workspace` an opt-out entry names; None when it is
        no opt-out on a channel this version knows, or names no such customer."""
        if not change.denied or change.channel is None:
            return None
        try:
            customer_workspace, customer_id = names.parse_customer(
                change.customer, field="customer"
            )
        except InvalidArgument:
            _log.warning(
                "consent entry names no customer of this deployment; passed",
                extra={"workspace": workspace, "cursor": str(change.cursor)},
            )
            return None
        return customer_id if customer_workspace == workspace else None

    async def _queued(self, workspace: str, customer_id: str, change: ConsentChange) -> list[str]:
        assert change.channel is not None
        async with self._deps.uow_factory(readonly=True) as uow:
            return await uow.messages.pending_ids(
                workspace, customer_id, change.purpose, change.channel
            )

    async def _still_denied(self, change: ConsentChange) -> bool:
        assert change.channel is not None
        # Raises UpstreamUnavailable: the entry is handled again when the stream resumes.
        answer = await self._deps.consents.check(change.customer, change.purpose, change.channel)
        transactional = change.purpose in self._deps.policy.caps.transactional_purposes
        return not consent.allows(answer, transactional=transactional)
