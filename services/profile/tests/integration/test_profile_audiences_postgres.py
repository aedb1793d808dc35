"""Tracking plans, computed traits (with their backfill), segments and life stages
against PostgreSQL: the same scenarios as the SQLite service tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ..service import test_profile_computed_traits as computed
from ..service import test_profile_segments as segments
from ..service import test_profile_tracking_plans as plans

SCENARIOS: list[Callable[[Any], Awaitable[None]]] = [
    plans.test_block_rejects_the_bad_event_only_and_counts_violations,
    plans.test_flag_accepts_and_counts_and_updates_make_revisions,
    computed.test_every_kind_over_its_window_with_filters,
    computed.test_a_new_trait_is_backfilled_by_a_job_then_kept_up_to_date,
    computed.test_segments_read_computed_traits_in_real_time,
    segments.test_membership_follows_traits_in_real_time_with_signals,
    segments.test_a_new_segment_is_filled_and_previews_save_nothing,
    segments.test_life_stages_first_match_wins_and_changes_are_signals,
    segments.test_a_new_life_stage_model_reaches_every_customer,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_on_postgres(
    scenario: Callable[[Any], Awaitable[None]],
    profile_server: Any,
    postgres_url: str,
    pg_schema: str,
) -> None:
    async with profile_server(
        database_url=postgres_url, database_schema=pg_schema, segment_poll_interval=0.2
    ) as (stub, _):
        await scenario(stub)
