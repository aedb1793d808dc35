"""The trigger runner: profile signals in, consent-checked sends out.

At least once: a signal's cursor is stored only after the signal was fully
handled, and every send carries an idempotency key derived from the trigger
and the event, so a replay after a crash sends nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from typing import Any

from rapport.decisioning.adapters.dependencies import (
    ConsentQuery,
    DependencyError,
    OutboundMessage,
)
from rapport.decisioning.domain.model import Signal, TrackedEvent, Trigger
from rapport.decisioning.domain.rules import RuleEvaluationError

from .handlers import Dependencies

log = logging.getLogger(__name__)

TRACK = "track"


class Backoff:
    """Exponential pauses: initial, doubling, capped."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._next = initial
        self.attempt = 0

    def reset(self) -> None:
        self._next = self._initial
        self.attempt = 0

    async def sleep(self) -> None:
        self.attempt += 1
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        await asyncio.sleep(delay)


def condition_variables(
    event: TrackedEvent, customer: str, traits: dict[str, Any]
) -> dict[str, Any]:
    """What trigger conditions see: `event` and `profile`."""
    return {
        "event": {
            "name": event.name,
            "properties": event.properties,
            "context": event.context,
            "message_id": event.message_id,
        },
        "profile": {"traits": traits, "customer": customer},
    }


class TriggerRunner:
    def __init__(
        self,
        deps: Dependencies,
        *,
        backoff_initial_seconds: float = 0.2,
        backoff_max_seconds: float = 5.0,
    ) -> None:
        self._deps = deps
        self._backoff_initial = backoff_initial_seconds
        self._backoff_max = backoff_max_seconds

    def _backoff(self) -> Backoff:
        return Backoff(self._backoff_initial, self._backoff_max)

    async def run(self) -> None:
        """Watch every configured workspace until cancelled."""
        async with asyncio.TaskGroup() as group:
            for workspace in self._deps.workspaces:
                group.create_task(self.run_workspace(workspace), name=f"triggers:{workspace}")

    async def run_workspace(self, workspace: str) -> None:
        backoff = self._backoff()
        while True:
            try:
                async with self._deps.uow(readonly=True) as uow:
                    cursor = await uow.repository.get_cursor(workspace)
                log.info("watching signals", extra={"workspace": workspace, "cursor": cursor})
                async with aclosing(self._deps.profile.watch_signals(workspace, cursor)) as signals:
                    async for signal in signals:
                        await self._handle_until_done(workspace, signal)
                        await self._save_cursor(workspace, signal.cursor)
                        backoff.reset()
                log.info("signal stream ended", extra={"workspace": workspace})
            except DependencyError as err:
                log.warning(
                    "signal stream broken",
                    extra={
                        "workspace": workspace,
                        "code": err.code,
                        "attempt": backoff.attempt + 1,
                    },
                )
            except Exception:
                # The runner must outlive any one failure (database restart...).
                log.exception("trigger runner failed", extra={"workspace": workspace})
            # Reconnect from the stored cursor.
            await backoff.sleep()

    async def _save_cursor(self, workspace: str, cursor: str) -> None:
        async with self._deps.uow() as uow:
            await uow.repository.save_cursor(workspace, cursor, self._deps.clock())
            await uow.commit()

    async def _handle_until_done(self, workspace: str, signal: Signal) -> None:
        """Retry transient failures of this signal until it is handled."""
        backoff = self._backoff()
        while True:
            try:
                await self.handle(workspace, signal)
                return
            except DependencyError as err:
                if not err.transient:
                    log.warning(
                        "signal skipped",
                        extra={
                            "workspace": workspace,
                            "cursor": signal.cursor,
                            "code": err.code,
                            "error_reason": err.reason or err.service,
                        },
                    )
                    return
                log.warning(
                    "signal handling will be retried",
                    extra={
                        "workspace": workspace,
                        "cursor": signal.cursor,
                        "code": err.code,
                        "error_reason": err.service,
                        "attempt": backoff.attempt + 1,
                    },
                )
                await backoff.sleep()

    async def handle(self, workspace: str, signal: Signal) -> None:
        """Fire every trigger the signal's event matches.

        Transient DependencyErrors propagate (the signal is retried: sends
        already made are deduplicated by their keys); permanent ones skip the
        trigger they concern.
        """
        event = signal.event
        if event is None or event.type != TRACK or not event.name:
            return
        async with self._deps.uow(readonly=True) as uow:
            triggers = await uow.repository.triggers_for_event(workspace, event.name)
            actions = {
                trigger.action_id: await uow.repository.get_action(workspace, trigger.action_id)
                for trigger in triggers
            }
        if not triggers:
            return
        traits = await self._deps.profile.get_traits(signal.customer) or {}
        variables = condition_variables(event, signal.customer, traits)
        now = self._deps.clock()
        for trigger in triggers:
            action = actions.get(trigger.action_id)
            if action is None:
                self._skip(trigger, signal, "ACTION_MISSING")
                continue
            if not action.in_window(now):
                self._skip(trigger, signal, "OUT_OF_WINDOW")
                continue
            if trigger.channel not in action.channels:
                # The action was replaced (catalogue file) without this channel.
                self._skip(trigger, signal, "CHANNEL_MISMATCH")
                continue
            try:
                if not self._deps.rules.evaluate(trigger.condition, variables):
                    continue
            except RuleEvaluationError:
                # The error text may quote values: the reason alone is logged.
                self._skip(trigger, signal, "RULE_ERROR")
                continue
            try:
                allowed = await self._deps.consent.check(
                    ConsentQuery(signal.customer, action.purpose, trigger.channel)
                )
                if not allowed:
                    self._skip(trigger, signal, "NO_CONSENT")
                    continue
                sent = await self._deps.delivery.send(
                    OutboundMessage(
                        workspace=workspace,
                        idempotency_key=trigger.idempotency_key(event.message_id),
                        customer=signal.customer,
                        purpose=action.purpose,
                        channel=trigger.channel,
                        content=action.content,
                        source=trigger.name,
                        data={"event": event.properties},
                    )
                )
            except DependencyError as err:
                if err.transient:
                    raise
                self._skip(trigger, signal, err.reason or err.code)
                continue
            log.info(
                "trigger sent",
                extra={
                    "trigger": trigger.name,
                    "customer": signal.customer,
                    "resource": sent.name,
                    "message_id": event.message_id,
                    "status": sent.state,
                },
            )

    @staticmethod
    def _skip(trigger: Trigger, signal: Signal, reason: str) -> None:
        log.info(
            "trigger not sent",
            extra={
                "trigger": trigger.name,
                "customer": signal.customer,
                "cursor": signal.cursor,
                "error_reason": reason,
            },
        )
