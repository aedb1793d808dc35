"""Consent follows identity's merges (SQLite): a merged customer's decisions answer for
the survivor, the newest decision of the group wins, an unmerge splits the answers
back, and a merge that turns an answer to denied is streamed for delivery. The
follower resumes from its stored cursor and skips what it cannot read. A check at a
past moment counts only the merges consent had applied by then."""

from __future__ import annotations

from rapport.consent.settings import ConsentSettings
from rapport.identity.v1 import identity_service_pb2 as ipb

from .._consent_support import FakeClock, customer_name, record
from .._identity_support import (
    DENIED,
    GRANTED,
    allowed,
    becomes,
    following,
    merge_newest_grant_wins,
    merge_then_unmerge,
    past_check_ignores_a_later_merge,
    restart_resumes_from_the_stored_cursor,
    scripted_identity,
    streamed,
    unreadable_changes_are_skipped,
)


async def test_a_merged_denial_answers_for_the_survivor_until_unmerged(
    sqlite_settings: ConsentSettings, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        async with following(sqlite_settings, address, clock) as stub:
            await merge_then_unmerge(stub, fake, clock)


async def test_the_newest_decision_of_the_merged_customers_wins(
    sqlite_settings: ConsentSettings, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        async with following(sqlite_settings, address, clock) as stub:
            await merge_newest_grant_wins(stub, fake, clock)


async def test_a_restart_resumes_from_the_stored_cursor(
    sqlite_settings: ConsentSettings, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        await restart_resumes_from_the_stored_cursor(sqlite_settings, fake, address, clock)


async def test_unreadable_changes_are_skipped_and_identity_away_is_waited_for(
    sqlite_settings: ConsentSettings, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        await unreadable_changes_are_skipped(sqlite_settings, fake, address, clock)


async def test_customers_merged_into_a_merged_customer_follow_it(
    sqlite_settings: ConsentSettings, clock: FakeClock
) -> None:
    """C merged into B, then B into A: C answers with A; B split off again: C with B."""
    a, b, c = customer_name(), customer_name(), customer_name()
    async with scripted_identity() as (fake, address):
        async with following(sqlite_settings, address, clock) as stub:
            await record(stub, b, DENIED)
            clock.advance(minutes=1)
            await record(stub, a, GRANTED)
            fake.add(ipb.CHANGE_KIND_MERGED, b, c)
            fake.add(ipb.CHANGE_KIND_MERGED, a, b)
            await becomes(stub, c, True)
            assert await allowed(stub, b)
            fake.add(ipb.CHANGE_KIND_UNMERGED, a, b)
            await becomes(stub, c, False)
            assert not await allowed(stub, b) and await allowed(stub, a)
            # C's answer turned from granted to denied with B's: a notice each.
            notices = [r for r in await streamed(stub, 4) if r.source == "identity_unmerged"]
            assert sorted(r.customer for r in notices) == sorted([b, c])


async def test_a_check_before_a_merge_answers_without_the_merged_customer(
    sqlite_settings: ConsentSettings, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        async with following(sqlite_settings, address, clock) as stub:
            await past_check_ignores_a_later_merge(stub, fake, clock)
