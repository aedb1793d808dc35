"""Consent follows identity's merges on PostgreSQL (the same scenarios as on SQLite):
aliases, notices and the stored cursor in consent's schema."""

from __future__ import annotations

from rapport.consent.settings import ConsentSettings

from .._consent_support import FakeClock
from .._identity_support import (
    following,
    merge_newest_grant_wins,
    merge_then_unmerge,
    past_check_ignores_a_later_merge,
    restart_resumes_from_the_stored_cursor,
    scripted_identity,
    unreadable_changes_are_skipped,
)


def _settings(postgres_url: str, pg_schema: str) -> ConsentSettings:
    return ConsentSettings(database_url=postgres_url, database_schema=pg_schema)


async def test_a_merged_denial_answers_for_the_survivor_until_unmerged(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        async with following(_settings(postgres_url, pg_schema), address, clock) as stub:
            await merge_then_unmerge(stub, fake, clock)


async def test_the_newest_decision_of_the_merged_customers_wins(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        async with following(_settings(postgres_url, pg_schema), address, clock) as stub:
            await merge_newest_grant_wins(stub, fake, clock)


async def test_a_restart_resumes_from_the_stored_cursor(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        settings = _settings(postgres_url, pg_schema)
        await restart_resumes_from_the_stored_cursor(settings, fake, address, clock)


async def test_unreadable_changes_are_skipped_and_identity_away_is_waited_for(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        settings = _settings(postgres_url, pg_schema)
        await unreadable_changes_are_skipped(settings, fake, address, clock)


async def test_a_check_before_a_merge_answers_without_the_merged_customer(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    async with scripted_identity() as (fake, address):
        async with following(_settings(postgres_url, pg_schema), address, clock) as stub:
            await past_check_ignores_a_later_merge(stub, fake, clock)
