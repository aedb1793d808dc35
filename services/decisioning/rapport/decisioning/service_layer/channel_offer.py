"""The channels a best-channel send offers delivery, and the contacts they hold.

A decision counts its contact on the channel arbitration chose. With best_channel,
delivery picks among the action's channels when it sends, perhaps another one, and a
contact counted on the wrong channel would let a later decision use the channel really
used (a second SMS in a week under a one-SMS limit). So the send offers only the channels
the contact limits allow it on, and holds a contact on each (under the customer's lock,
or by Redis's reservation) until the channel is known, from delivery's answer or from the
first status event of the message that names it; then only that channel's contact stays.
The limits count one send once however many channels it holds (ContactBudget), and a
second decision meanwhile finds every offered channel taken: the limits hold even when
two triggers fire at once.
"""

from __future__ import annotations

from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.contact_policy import Contact, ContactBudget
from rapport.decisioning.domain.model import Action, Channel, Decision
from rapport.sqlstore import run_with_retries

from .dependencies import Dependencies
from .erasure_guard import no_profile
from .unit_of_work import DecisioningUnitOfWork


def _held(history: list[Contact], decision: Decision, action: Action) -> set[Channel]:
    return {
        c.channel
        for c in history
        if c.decision_id == decision.decision_id and c.action == action.name
    }


async def hold_offer(
    deps: Dependencies, workspace: str, config: DecisionConfig, decision: Decision, action: Action
) -> tuple[Channel, ...]:
    """The channels to offer delivery for the decision's first action, each holding a
    contact (the chosen one holds the decision's own); in the action's order. NotFound
    when the customer was erased since the decision."""
    sendable = [c for c in action.channels if c.can_be_sent]
    limits = config.settings.contact_limits
    if not limits:
        return tuple(sendable)
    customer, purpose = decision.customer, action.purpose
    since = decision.create_time - config.settings.contact_lookback
    now = deps.clock()

    def contact(channel: Channel) -> Contact:
        # Timed as the decision's own contact: the holds end with it.
        return Contact(channel, purpose, action.name, decision.create_time, decision.decision_id)

    own = (decision.decision_id, action.name)
    store = deps.contact_store
    if store is not None:
        held = _held(await store.history(workspace, customer, since), decision, action)
        offered = [
            channel
            for channel in sendable
            if channel in held
            or await store.reserve(workspace, customer, [contact(channel)], limits, now)
        ]
        # Reserved, then checked: an erasure committed before the check is seen here,
        # one committed after it forgets these reservations itself.
        async with deps.uow(readonly=True) as uow:
            erased = await uow.erased_customers.erased(workspace, customer)
        if erased:
            await store.forget(workspace, customer)
            raise no_profile(customer)
    else:

        async def hold(uow: DecisioningUnitOfWork) -> list[Channel]:
            await uow.contacts.lock_customer(workspace, customer)
            if await uow.erased_customers.erased(workspace, customer):
                raise no_profile(customer)  # erased since the decision: nothing to send
            history = await uow.contacts.since(workspace, customer, since)
            held = _held(history, decision, action)
            # The send counts once whatever it holds: would it fit on this channel alone?
            others = [c for c in history if (c.decision_id, c.action) != own]
            budget = ContactBudget(limits, others, now)
            taken = [
                channel
                for channel in sendable
                if channel not in held and budget.blocking(channel, purpose) is None
            ]
            await uow.contacts.add(workspace, customer, [contact(c) for c in taken])
            return [c for c in sendable if c in held or c in taken]

        offered = await run_with_retries(
            deps.uow, hold, description="the customer's contacts kept changing; retry"
        )
    # The chosen channel always holds the decision's own contact.
    return tuple(offered) or (decision.actions[0].channel,)


async def settle_channel(
    deps: Dependencies,
    workspace: str,
    customer: str,
    decision_id: str,
    action: str,
    channel: Channel,
) -> None:
    """Delivery sent the decision's `action` on `channel`: of the contacts the decision
    holds about it, only that channel's stays (one moves there when none is)."""
    if deps.contact_store is not None:
        await deps.contact_store.keep_channel(workspace, customer, decision_id, action, channel)
        return
    await run_with_retries(
        deps.uow,
        lambda uow: uow.contacts.keep_channel(workspace, decision_id, action, channel),
        description="the customer's contacts kept changing; retry",
    )
