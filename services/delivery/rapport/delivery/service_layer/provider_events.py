"""The closed loop's use cases: provider events (RPC and HTTP callbacks), one-click
unsubscribe, and SMS STOP replies.

Every provider event is answered (logged), never refused: one bad callback never stops
anything. One for a message a provider may have but whose SENT is not recorded yet (or
for a provider id no message carries yet) is held until it is (early_events.py); one
that cannot apply (a message never sent, an unknown message) changes nothing. Hard
bounces and complaints lead to consent opt-outs through the outbox, in the same
transaction; an unsubscribe is recorded in consent within the request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapport.delivery.adapters.upstream import UpstreamUnavailable
from rapport.delivery.domain import names, status
from rapport.delivery.domain.addressing import phone_number
from rapport.delivery.domain.model import Channel, FailureReason
from rapport.delivery.domain.sms_opt_out import STOP_WORDS
from rapport.delivery.domain.status import EventOutcome, ProviderEvent
from rapport.delivery.domain.unsubscribe import TokenRefused, Unsubscribe, stop_subjects
from rapport.errors import InvalidArgument
from rapport.resourcenames import require_workspace

from . import commands, early_events
from .dependencies import Dependencies

_log = logging.getLogger(__name__)

# A provider's clock may run a little ahead of ours.
_MAX_AHEAD = timedelta(minutes=5)
_MAX_REASON = 200
_MAX_PROVIDER = 64
_MAX_PROVIDER_ID = 255


class OptOutNotRecorded(Exception):
    """Consent could not record an opt-out now (it is not recorded: ask again later)."""

    def __init__(self, failure_code: str) -> None:
        super().__init__(failure_code)
        self.failure_code = failure_code


@dataclass(frozen=True)
class EventReport:
    # The matched message's name; empty when none matched.
    message: str
    outcome: EventOutcome


def _check_reason(reason: str, field: str = "reason") -> str:
    if len(reason) > _MAX_REASON or not reason.isprintable():
        raise InvalidArgument(field, f"must be at most {_MAX_REASON} printable characters")
    return reason


def check_event_time(time: datetime | None, now: datetime, field: str = "event_time") -> datetime:
    if time is None:
        return now
    if time > now + _MAX_AHEAD:
        raise InvalidArgument(field, "must not be more than 5 minutes in the future")
    return time


async def report_provider_event(
    cmd: commands.ReportProviderEvent, deps: Dependencies
) -> EventReport:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    message_id = ""
    if cmd.message:
        message_workspace, message_id = names.parse_message(cmd.message, field="message")
        if message_workspace != workspace:
            raise InvalidArgument("message", f"must be in {cmd.parent}")
        if cmd.provider or cmd.provider_message_id:
            raise InvalidArgument("provider", "give message, or provider and provider_message_id")
    elif not cmd.provider:
        raise InvalidArgument("message", "give message, or provider and provider_message_id")
    elif not cmd.provider_message_id:
        raise InvalidArgument("provider_message_id", "is required with provider")
    if not _storable_id(cmd.provider, _MAX_PROVIDER):
        raise InvalidArgument("provider", f"must be at most {_MAX_PROVIDER} printable characters")
    if not _storable_id(cmd.provider_message_id, _MAX_PROVIDER_ID):
        raise InvalidArgument(
            "provider_message_id", f"must be at most {_MAX_PROVIDER_ID} printable characters"
        )
    if cmd.type is None:
        raise InvalidArgument("type", "is required")
    reason = _check_reason(cmd.reason)
    time = check_event_time(cmd.event_time, deps.clock())
    return await apply_event(
        deps,
        workspace=workspace,
        message_id=message_id,
        provider=cmd.provider,
        provider_message_id=cmd.provider_message_id,
        event=cmd.type,
        time=time,
        reason=reason,
        reporter=cmd.provider or "api",
    )


def _storable_id(value: str, limit: int) -> bool:
    return len(value) <= limit and value.isprintable()


async def apply_event(
    deps: Dependencies,
    *,
    workspace: str | None,
    message_id: str = "",
    provider: str = "",
    provider_message_id: str = "",
    event: ProviderEvent,
    time: datetime,
    reason: str = "",
    reporter: str,
    implied: tuple[ProviderEvent, str] | None = None,
) -> EventReport:
    """Record one provider event on the message it names (by id, or by provider id;
    `workspace` None: any workspace this deployment serves). `implied`: (event, reason)
    recorded first in the same transaction unless it already was (a click shows the
    mail was opened)."""
    now = deps.clock()
    if not _storable_id(provider, _MAX_PROVIDER) or not _storable_id(
        provider_message_id, _MAX_PROVIDER_ID
    ):
        # A callback's ids no message can carry (NUL bytes, which PostgreSQL text
        # cannot hold, or any other control character): answered, not refused.
        _log.info("provider event with an unusable id", extra={"provider": reporter[:64]})
        return EventReport("", EventOutcome.UNKNOWN_MESSAGE)
    planned = [*([implied] if implied is not None else []), (event, reason)]
    async with deps.uow_factory() as uow:
        if provider_message_id:
            # Before the look-up: a recording of this id either is seen or waits.
            await uow.early_events.lock_provider_id(provider, provider_message_id)
        message = await uow.status.find_for_update(
            workspace=workspace,
            message_id=message_id,
            provider=provider,
            provider_message_id=provider_message_id,
        )
        if message is None and provider_message_id:
            # The provider may have answered faster than delivery recorded its answer.
            held = (provider, provider_message_id)
            await early_events.hold_for_provider_id(
                uow, workspace, held, planned, time=time, reporter=reporter, now=now
            )
            await uow.commit()
        if message is None or message.workspace not in deps.workspaces:
            _log.info(
                "provider event for an unknown message",
                extra={"provider": reporter, "status": event.value},
            )
            return EventReport("", EventOutcome.UNKNOWN_MESSAGE)
        if status.awaits_provider(message):
            opted = await early_events.hold_for_message(
                uow, message, planned, time=time, reporter=reporter, now=now
            )
            await uow.commit()
            _log.info(
                "provider event held until the message is sent",
                extra={"message_id": message.id, "status": event.value},
            )
            if opted:
                deps.loop.wakeup.set()
            return EventReport(message.name, EventOutcome.NOT_APPLICABLE)
        history = await uow.status.history([message.id])
        recorded = frozenset(change.status for change in history[message.id])
        counts = (message.open_count, message.click_count)
        changed = False
        if implied is not None:
            implied_event, implied_reason = implied
            before = status.apply_provider_event(
                message,
                implied_event,
                time=time,
                reason=implied_reason,
                reporter=reporter,
                recorded=recorded,
                counted=False,
            )
            if before.outcome is EventOutcome.APPLIED:
                changed = True
                recorded |= {implied_event.value}
        applied = status.apply_provider_event(
            message, event, time=time, reason=reason, reporter=reporter, recorded=recorded
        )
        counted = counts != (message.open_count, message.click_count)
        if applied.outcome is EventOutcome.APPLIED or changed or counted:
            await uow.status.save_event(message, now=now)
            if applied.opt_out_source:
                await early_events.add_opt_out(
                    uow, message, event, source=applied.opt_out_source, time=time, now=now
                )
            await uow.commit()
    _log.info(
        "provider event",
        extra={"message_id": message.id, "status": event.value, "action": applied.outcome.value},
    )
    if applied.outcome is EventOutcome.APPLIED and applied.opt_out_source:
        deps.loop.wakeup.set()
    return EventReport(message.name, applied.outcome)


# --- Twilio-style SMS callbacks --------------------------------------------------------------

_TWILIO_STATUSES = {
    "delivered": ProviderEvent.DELIVERED,
    "undelivered": ProviderEvent.FAILED,
    "failed": ProviderEvent.FAILED,
    "read": ProviderEvent.OPENED,
}
# Error codes saying the number can never take SMS: a hard bounce.
_TWILIO_HARD_BOUNCES = frozenset({"21211", "21612", "21614", "30005", "30006"})


def twilio_event(params: dict[str, str]) -> tuple[ProviderEvent, str] | None:
    """(event, reason) of a status callback; None for statuses that change nothing
    (queued, sending, sent, accepted...)."""
    event = _TWILIO_STATUSES.get(params.get("MessageStatus", "").strip().lower())
    if event is None:
        return None
    code = params.get("ErrorCode", "").strip()
    if event is ProviderEvent.FAILED and code in _TWILIO_HARD_BOUNCES:
        event = ProviderEvent.BOUNCED
    reason = f"twilio {code}" if code.isdigit() and len(code) <= 10 else ""
    return event, reason


async def twilio_status(provider: str, params: dict[str, str], deps: Dependencies) -> EventReport:
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    found = twilio_event(params)
    if found is None or not sid or len(sid) > _MAX_PROVIDER_ID:
        return EventReport("", EventOutcome.NOT_APPLICABLE)
    event, reason = found
    return await apply_event(
        deps,
        workspace=None,
        provider=provider,
        provider_message_id=sid,
        event=event,
        time=deps.clock(),
        reason=reason,
        reporter=provider,
    )


async def sms_reply(provider: str, params: dict[str, str], deps: Dependencies) -> int:
    """An inbound SMS: STOP (and the other stop words) opts the sender out of SMS for
    each purpose delivery sent it SMS for through `provider`, and each transactional
    purpose (domain/unsubscribe.stop_subjects). Returns the opt-outs recorded; raises
    OptOutNotRecorded when consent could not record them."""
    if params.get("Body", "").strip().upper() not in STOP_WORDS:
        return 0
    number = phone_number({"phone": params.get("From", "")})
    if isinstance(number, FailureReason):
        _log.info("STOP reply from an unreadable number", extra={"provider": provider})
        return 0
    key = deps.loop.recipient_key(Channel.SMS, number)
    async with deps.uow_factory(readonly=True) as uow:
        subjects = await uow.status.sms_subjects(key, provider)
    recorded = 0
    transactional = deps.policy.caps.transactional_purposes
    for workspace, customer_id, purpose in stop_subjects(subjects, deps.workspaces, transactional):
        await _opt_out(
            deps,
            customer=names.customer_name(workspace, customer_id),
            purpose=purpose,
            channel=Channel.SMS,
            source="unsubscribe",
            proof=f"sms-stop {params.get('MessageSid', '')[:64]}".strip(),
        )
        recorded += 1
    _log.info("SMS STOP reply", extra={"provider": provider, "count": recorded})
    return recorded


# --- one-click unsubscribe -------------------------------------------------------------------


def read_unsubscribe(token: str, deps: Dependencies) -> Unsubscribe:
    """What a link's token names; TokenMalformed / TokenRefused (also for a workspace
    this deployment does not serve)."""
    subject = deps.loop.tokens.read(token, deps.clock())
    if subject.workspace not in deps.workspaces:
        raise TokenRefused("the token names a workspace this deployment does not serve")
    return subject


async def unsubscribe(token: str, deps: Dependencies) -> Unsubscribe:
    """Record the opt-out a link names, in consent, now (OptOutNotRecorded when it
    could not be recorded: the link says so and can be used again)."""
    subject = read_unsubscribe(token, deps)
    await _opt_out(
        deps,
        customer=names.customer_name(subject.workspace, subject.customer_id),
        purpose=subject.purpose,
        channel=subject.channel,
        source="unsubscribe",
        proof=names.message_name(subject.workspace, subject.message_id),
    )
    _log.info(
        "unsubscribed",
        extra={"customer": subject.customer_id, "message_id": subject.message_id},
    )
    return subject


async def _opt_out(
    deps: Dependencies, *, customer: str, purpose: str, channel: Channel, source: str, proof: str
) -> None:
    recorder = deps.loop.opt_outs
    if recorder is None:
        raise OptOutNotRecorded("CONSENT_NOT_CONFIGURED")
    try:
        await recorder.record_opt_out(customer, purpose, channel, source=source, proof=proof)
    except UpstreamUnavailable as err:
        raise OptOutNotRecorded(err.failure_code) from None


# --- signed event callbacks ------------------------------------------------------------------

_EVENT_NAMES = {event.value.lower(): event for event in ProviderEvent} | {
    "bounce": ProviderEvent.BOUNCED,
    "hard_bounce": ProviderEvent.BOUNCED,
    "soft_bounce": ProviderEvent.SOFT_BOUNCED,
    "open": ProviderEvent.OPENED,
    "click": ProviderEvent.CLICKED,
    "complaint": ProviderEvent.COMPLAINED,
    "spam_report": ProviderEvent.COMPLAINED,
}
MAX_EVENTS_PER_CALLBACK = 100


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("timestamp")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp")
    return parsed


async def signed_events(
    provider: str, events: list[Any], deps: Dependencies
) -> list[EventOutcome | None]:
    """Each event of a verified callback, on its own (None: an entry that could not be
    read, skipped and logged): `{"type": "delivered", "message": "workspaces/...",
    "timestamp": "...", "reason": "..."}`, or `provider_message_id` instead of
    `message`."""
    outcomes: list[EventOutcome | None] = []
    for entry in events:
        try:
            report = await _signed_event(provider, entry, deps)
        except (InvalidArgument, ValueError, TypeError, OverflowError):
            _log.info("unreadable provider event skipped", extra={"provider": provider})
            outcomes.append(None)
            continue
        outcomes.append(report.outcome)
    return outcomes


async def _signed_event(provider: str, entry: Any, deps: Dependencies) -> EventReport:
    if not isinstance(entry, dict):
        raise ValueError("entry")
    event = _EVENT_NAMES.get(str(entry.get("type", "")).strip().lower())
    if event is None:
        raise ValueError("type")
    reason = _check_reason(str(entry.get("reason", "")))
    time = check_event_time(_parse_time(entry.get("timestamp")), deps.clock())
    message = entry.get("message", "")
    provider_message_id = entry.get("provider_message_id", "")
    if not isinstance(message, str) or not isinstance(provider_message_id, str):
        raise ValueError("message")
    if message:
        workspace, message_id = names.parse_message(message, field="message")
        return await apply_event(
            deps,
            workspace=workspace,
            message_id=message_id,
            event=event,
            time=time,
            reason=reason,
            reporter=provider,
        )
    if not provider_message_id or len(provider_message_id) > _MAX_PROVIDER_ID:
        raise ValueError("provider_message_id")
    return await apply_event(
        deps,
        workspace=None,
        provider=provider,
        provider_message_id=provider_message_id,
        event=event,
        time=time,
        reason=reason,
        reporter=provider,
    )
