"""Profile events that are outcomes of decisions, read from the signal stream.

- Delivery's status events (`Email Delivered`, `SMS Sent`, `Push Opened`,
  `Email Clicked`, `Email Bounced`, `Email Complained` (a rejection), `In-App
  Message Delivered`... with property `message`, the delivery
  message's name) become outcomes of the decision whose trigger had the message
  sent (the link is stored when it is sent).
- A conversion rule's event (e.g. `Policy Renewed`) becomes a CONVERSION of the
  customer's latest decision within the rule's window that returned the rule's
  action or assigned the customer to an arm of an experiment about it, whatever
  the arm did with the action (intent to treat: experiments.converts).

Outcome ids derive from the event's message id, so a replayed signal records
nothing twice.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from rapport.decisioning.domain import names
from rapport.decisioning.domain.checks import MAX_AMOUNT
from rapport.decisioning.domain.model import Channel, Decision, Outcome, OutcomeType, TrackedEvent

from .channel_offer import settle_channel
from .dependencies import Dependencies
from .models import learn_from_outcome
from .outcomes import derived_outcome_id
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

# Delivery names them "<channel label> <status in title case>" (delivery's status.py).
STATUS_EVENT = re.compile(r"(Email|SMS|Push|Webhook|In-App Message) ([A-Z][a-z]+(?: [A-Z][a-z]+)?)")
STATUS_OUTCOMES = {
    "Sent": OutcomeType.SENT,
    "Delivered": OutcomeType.DELIVERED,
    "Opened": OutcomeType.OPENED,
    "Clicked": OutcomeType.CLICK,
    "Bounced": OutcomeType.BOUNCED,
    "Soft Bounced": OutcomeType.BOUNCED,
    "Failed": OutcomeType.BOUNCED,
    "Dead Lettered": OutcomeType.BOUNCED,
    # A spam complaint: the customer rejected the message.
    "Complained": OutcomeType.REJECT,
}
VALUE_PROPERTIES = ("value", "revenue")


def status_outcome(event: TrackedEvent) -> tuple[OutcomeType, str] | None:
    """The outcome type and message name of a delivery status event; None for others."""
    match = STATUS_EVENT.fullmatch(event.name)
    message = event.properties.get("message")
    # A value delivery never gives (NUL, an id too long...) names no message we sent:
    # not even looked up.
    if match is None or not isinstance(message, str) or not names.is_message_name(message):
        return None
    kind = STATUS_OUTCOMES.get(match.group(2))
    return (kind, message) if kind is not None else None


def conversion_value(event: TrackedEvent) -> float:
    """The event's `value` (or `revenue`) property when it is a usable amount, else 0."""
    for key in VALUE_PROPERTIES:
        value = event.properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and 0 <= value <= MAX_AMOUNT:
                return float(value)
    return 0.0


async def _add_once(uow: DecisioningUnitOfWork, outcome_args: dict[str, Any]) -> bool:
    outcome = Outcome(**outcome_args)
    if await uow.outcomes.get(outcome.workspace, outcome.outcome_id) is not None:
        return False
    await learn_from_outcome(uow, outcome, outcome.create_time)
    await uow.outcomes.add(outcome)
    return True


async def attribute_event(
    workspace: str, customer: str, event: TrackedEvent, deps: Dependencies
) -> int:
    """Record the outcomes `event` stands for; how many were new."""
    status = status_outcome(event)
    now = deps.clock()
    happened = event.time or now
    recorded = 0
    sent_on = None
    async with deps.uow() as uow:
        # First: an erasure of the customer then waits, or has deleted its decisions.
        await uow.contacts.lock_customer(workspace, customer)
        if status is not None:
            kind, message = status
            sent = await uow.sent_messages.get(workspace, message)
            if sent is not None and sent.customer == customer:
                sent_on = (sent, event_channel(event))
                recorded += await _add_once(
                    uow,
                    {
                        "workspace": workspace,
                        "outcome_id": derived_outcome_id("status", event.message_id),
                        "decision_id": sent.decision_id,
                        "customer": customer,
                        "action": sent.action,
                        "type": kind,
                        # Delivery may choose the channel after the send was asked for.
                        "channel": event_channel(event) or sent.channel,
                        "outcome_time": happened,
                        "create_time": now,
                    },
                )
        rules = await uow.conversion_rules.for_event(workspace, event.name)
        experiments = await uow.experiments.all(workspace) if rules else []
        for rule in rules:
            decision = await uow.decisions.latest_about(
                workspace,
                customer,
                rule.action_name,
                rule.window_start(happened),
                happened,
                rule.experiments_about(experiments),
            )
            if decision is None:
                continue
            recorded += await _add_once(
                uow,
                {
                    "workspace": workspace,
                    "outcome_id": derived_outcome_id(
                        "conversion", event.message_id, decision.decision_id, rule.action_id
                    ),
                    "decision_id": decision.decision_id,
                    "customer": customer,
                    "action": rule.action_name,
                    "type": OutcomeType.CONVERSION,
                    "channel": channel_of(decision, rule.action_name),
                    "outcome_time": happened,
                    "create_time": now,
                    "value": conversion_value(event),
                },
            )
        if recorded:
            await uow.commit()
    if sent_on is not None and sent_on[1] is not None:
        # The channel delivery chose is known: the contacts a best-channel send held on
        # the others end (channel_offer.py).
        link, channel = sent_on
        await settle_channel(deps, workspace, customer, link.decision_id, link.action, channel)
    if recorded:
        log.info(
            "outcomes attributed",
            extra={"workspace": workspace, "customer": customer, "count": recorded},
        )
    return recorded


def event_channel(event: TrackedEvent) -> Channel | None:
    value = event.properties.get("channel")
    return Channel.__members__.get(value) if isinstance(value, str) else None


def channel_of(decision: Decision, action: str) -> Channel | None:
    return next((r.channel for r in decision.actions if r.action == action), None)
