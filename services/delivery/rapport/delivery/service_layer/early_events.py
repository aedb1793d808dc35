"""Provider events that come before their message's SENT is recorded (a fast provider's
callback beats the dispatcher's commit; an ambiguous attempt left the message queued):
nothing a provider reported is lost.

- The opt-out a hard bounce or a complaint leads to does not wait: it is written to the
  consent outbox in the callback's transaction, as for a sent message. Only an event
  naming nothing but the provider's id of a message not recorded yet waits for it (the
  customer is not known before).
- The event itself is held (uow.early_events, one row per message and kind of event:
  a provider's retry is stored once) and applied in the transaction that records SENT,
  in provider time order, with the effects a later event has: status history, profile
  events (decisioning learns its outcomes from those), opt-outs. A crash loses neither:
  SENT and the events it releases commit together.
- A message that ends without being sent (failed, suppressed, dead-lettered, cancelled,
  erased) takes none: its held events are dropped when its attempt is recorded, with
  the customer's erasure, or when the window ends (also for provider ids no message
  ever took). They are not exported: until applied they are no part of a message.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime

from rapport.delivery.adapters.early_event_repository import message_key, provider_key
from rapport.delivery.adapters.status_history import CONSENT_OPT_OUT
from rapport.delivery.domain import status
from rapport.delivery.domain.model import Message
from rapport.delivery.domain.status import EarlyEvent, EventOutcome, ProviderEvent

from .dependencies import Dependencies
from .unit_of_work import DeliveryUnitOfWork

_log = logging.getLogger(__name__)

# Keys pruned per transaction: a short one, whatever the backlog.
PRUNE_BATCH = 1000


async def add_opt_out(
    uow: DeliveryUnitOfWork,
    message: Message,
    event: ProviderEvent,
    *,
    source: str,
    time: datetime,
    now: datetime,
) -> None:
    """The consent opt-out `event` leads to, through the outbox (one item per message
    and kind of event)."""
    if message.channel is None:
        return
    await uow.status.add_outbox(
        item_id=f"opt-out-{message.id}-{event.value.lower()}",
        kind=CONSENT_OPT_OUT,
        workspace=message.workspace,
        customer_id=message.customer_id,
        payload={
            "purpose": message.purpose,
            "channel": message.channel.value,
            "source": source,
            "proof": message.name,
            "time": time.isoformat(),
        },
        now=now,
    )


async def hold_for_message(
    uow: DeliveryUnitOfWork,
    message: Message,
    events: Sequence[tuple[ProviderEvent, str]],
    *,
    time: datetime,
    reporter: str,
    now: datetime,
) -> bool:
    """Hold (event, reason) pairs for a message a provider may have, not SENT yet; the
    opt-outs they lead to are written now. True when one was."""
    opted = False
    for event, reason in events:
        source = status.OPT_OUT_SOURCES.get(event, "")
        early = EarlyEvent(
            event,
            time,
            reason,
            reporter,
            receive_time=now,
            # Without a channel (a best channel not chosen yet) it waits for SENT.
            opted_out=bool(source) and message.channel is not None,
        )
        fresh = await uow.early_events.hold(
            message_key(message.id),
            early,
            workspace=message.workspace,
            customer_id=message.customer_id,
        )
        if fresh and early.opted_out:
            await add_opt_out(uow, message, event, source=source, time=time, now=now)
            opted = True
    return opted


async def hold_for_provider_id(
    uow: DeliveryUnitOfWork,
    workspace: str | None,
    provider_id: tuple[str, str],
    events: Sequence[tuple[ProviderEvent, str]],
    *,
    time: datetime,
    reporter: str,
    now: datetime,
) -> None:
    """Hold (event, reason) pairs naming a (provider, provider message id) no message
    carries yet (its SENT may not be recorded yet); pruned after the window if none
    ever does."""
    for event, reason in events:
        await uow.early_events.hold(
            provider_key(*provider_id),
            EarlyEvent(event, time, reason, reporter, receive_time=now),
            workspace=workspace or "",
        )


async def apply_on_sent(
    uow: DeliveryUnitOfWork, finished: Sequence[Message], deps: Dependencies
) -> bool:
    """In the transaction recording the attempts that ended `finished` (stored, their
    changes written): apply the events held for the SENT ones, drop those of the others.
    True when an opt-out was written. An event that cannot be applied is logged and
    skipped: it never stops the recording."""
    taken = await uow.early_events.take(finished)
    if not taken:
        return False
    now = deps.clock()
    opted = False
    for message in finished:
        events = taken.get(message.id)
        if not events:
            continue
        # A copy: the dispatcher's message stays the attempt's outcome if this
        # transaction does not commit.
        late = dataclasses.replace(message, changes=[])
        try:
            results = status.apply_early_events(late, events)
        except Exception as err:
            _log.error(
                "held provider events not applied",
                extra={"message_id": message.id, "error_reason": type(err).__name__},
            )
            continue
        applied = [(e, a) for e, a in results if a.outcome is EventOutcome.APPLIED]
        if not applied and (late.open_count, late.click_count) == (
            message.open_count,
            message.click_count,
        ):
            continue
        await uow.status.save_event(late, now=now)
        for early, outcome in applied:
            if outcome.opt_out_source and not early.opted_out and late.channel is not None:
                await add_opt_out(
                    uow,
                    late,
                    early.event,
                    source=outcome.opt_out_source,
                    time=max(early.time, late.send_time or early.time),
                    now=now,
                )
                opted = True
        _log.info(
            "held provider events applied",
            extra={"message_id": message.id, "count": len(applied), "status": str(late.state)},
        )
    return opted


async def prune_expired_events(deps: Dependencies) -> int:
    """Delete the events held longer than the window (in batches); returns how many."""
    received_before = deps.clock() - deps.loop.early_event_window
    pruned = 0
    while True:
        async with deps.uow_factory() as uow:
            removed = await uow.early_events.prune(
                received_before=received_before, limit=PRUNE_BATCH
            )
            await uow.commit()
        pruned += removed
        if removed == 0:
            return pruned
