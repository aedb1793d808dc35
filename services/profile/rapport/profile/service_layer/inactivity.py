"""The DELETE inactivity rule, applied by the hygiene sweep: the inactive customers
erased one by one, each checked again under its lock."""

from __future__ import annotations

import asyncio
import logging

from rapport.profile.domain.hygiene import HygienePolicy
from rapport.sqlstore import run_with_retries

from .cache_invalidation import fence_before_commit, invalidate_after_commit
from .customer_state import erase_customer
from .dependencies import Dependencies
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)


async def erase_inactive(deps: Dependencies, policy: HygienePolicy, chunk: int) -> int:
    """The customers the policy's DELETE rule finds inactive, erased; how many."""
    assert policy.inactivity is not None
    erased = 0
    after = ""
    while True:
        async with deps.uow(readonly=True) as uow:
            rows = await uow.hygiene.inactive(
                policy.workspace, policy.inactivity, deps.clock(), after, chunk
            )
        for row in rows:
            erased += await _erase_if_still_inactive(deps, policy, row.customer_id)
        if len(rows) < chunk:
            return erased
        after = rows[-1].customer_id
        await asyncio.sleep(0)


async def _erase_if_still_inactive(
    deps: Dependencies, policy: HygienePolicy, customer_id: str
) -> bool:
    """Erase the customer if, under its lock, the rule still matches it and it is still
    a customer of its own: an event (the rule's, as an email opened) or a merge into
    another customer since the sweep's read saves it, and a merge never makes the sweep
    erase the survivor instead (as erase_customers, which follows merges, would)."""
    assert policy.inactivity is not None
    workspace, rule, now = policy.workspace, policy.inactivity, deps.clock()

    async def attempt(uow: ProfileUnitOfWork) -> tuple[list[str], str | None] | None:
        await uow.profiles.lock_customers(workspace, [customer_id])
        if await uow.profiles.survivor_of(workspace, customer_id) != customer_id:
            return None
        if not await uow.hygiene.is_inactive(workspace, rule, now, customer_id):
            return None
        erased = await erase_customer(uow, workspace, customer_id, now)
        scopes = [customer_id, *erased.merged_customer_ids]
        # Once erased, no sweep comes back to it: should this process die before the
        # invalidation, the fence keeps every replica from serving the erased profile.
        # A fence that cannot be taken fails the round: the next one erases it.
        return scopes, await fence_before_commit(deps, workspace, scopes)

    erased = await run_with_retries(deps.uow, attempt)
    if erased is None:
        return False
    scopes, fence = erased
    await invalidate_after_commit(deps, workspace, scopes, fence=fence)
    _log.info("inactive customer erased", extra={"workspace": workspace, "customer": customer_id})
    return True
