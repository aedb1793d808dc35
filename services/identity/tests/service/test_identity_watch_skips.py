"""WatchChanges never stops on a stored change it cannot stream: it skips it, counts it in
the next response's skipped_change_count and logs where it is (never what it holds)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rapport.identity.adapters.tables import identity_changes
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.sqlstore import create_engine
from sqlalchemy import text

from .._identity_support import PARENT, ident, replica, store_rows, watch

SECRET_ID = "c0ffee0000secret"


async def store_changes(settings: IdentitySettings, *rows: dict[str, Any]) -> None:
    """Write change log rows straight into the database, as damage or a bug might
    (those holding a time first, in order, then those holding text instead)."""
    await store_rows(settings, identity_changes, *[r for r in rows if _is_time(r)])
    engine = create_engine(settings.database_url_or_default())
    try:
        async with engine.begin() as connection:
            for row in (r for r in rows if not _is_time(r)):  # not a time at all
                await connection.execute(
                    text(
                        "INSERT INTO identity_changes"
                        " (workspace, kind, customer_id, other_customer_id, change_time)"
                        " VALUES (:workspace, :kind, :customer_id, NULL, :change_time)"
                    ),
                    row,
                )
    finally:
        await engine.dispose()


def _is_time(row: dict[str, Any]) -> bool:
    return isinstance(row["change_time"], datetime)


def change_row(kind: str = "merged", customer: str = SECRET_ID, **values: Any) -> dict[str, Any]:
    return {
        "workspace": "default",
        "kind": kind,
        "customer_id": customer,
        "other_customer_id": None,
        "change_time": datetime(2026, 1, 1, tzinfo=UTC),
        **values,
    }


async def create(stub, value: str) -> pb.ResolveResponse:
    return await stub.Resolve(
        pb.ResolveRequest(parent=PARENT, identifiers=[ident("device_id", value)])
    )


def skip_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("change skipped")]


async def test_undecodable_changes_are_skipped_counted_and_logged(
    identity_settings: IdentitySettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rapport.identity")
    async with replica(identity_settings) as stub:
        first = await create(stub, "one")
        await store_changes(
            identity_settings,
            change_row(kind="split-in-three"),  # a kind this version does not know
            change_row(change_time="yesterday-ish"),  # not a time
        )
        second = await create(stub, "two")

        responses = await watch(stub, 2)
        assert [r.change.customer for r in responses] == [
            first.customer.name,
            second.customer.name,
        ]
        assert [r.skipped_change_count for r in responses] == [0, 2]
        assert [int(r.change.cursor) for r in responses] == [1, 4]
        # Resuming after the skipped ones does not count them again.
        resumed = await watch(stub, 1, start_cursor="3")
        assert resumed[0].change.cursor == "4" and resumed[0].skipped_change_count == 0

    logged = skip_records(caplog)[:2]
    assert [(r.levelno, r.workspace, r.cursor, r.error_reason) for r in logged] == [
        (logging.WARNING, "default", "2", "UNDECODABLE:UNKNOWN_KIND"),
        (logging.WARNING, "default", "3", "UNDECODABLE:UNREADABLE_TIME"),
    ]
    for record in skip_records(caplog):
        assert SECRET_ID not in str(record.__dict__)
        assert "yesterday" not in str(record.__dict__)


async def test_a_change_too_large_to_stream_is_skipped_and_the_stream_goes_on(
    identity_settings: IdentitySettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rapport.identity")
    huge_id = "f" * (identity_settings.max_message_bytes + 1)
    async with replica(identity_settings) as stub:
        await store_changes(
            identity_settings, change_row(customer=huge_id, other_customer_id=SECRET_ID)
        )
        created = await create(stub, "after")
        [response] = await watch(stub, 1)
        assert response.change.customer == created.customer.name
        assert response.skipped_change_count == 1
    [record] = skip_records(caplog)
    assert (record.workspace, record.cursor, record.error_reason) == ("default", "1", "TOO_LARGE")
    assert SECRET_ID not in str(record.__dict__) and huge_id not in str(record.__dict__)


async def test_a_merge_of_very_many_customers_is_streamed_in_parts_under_the_limit(
    tmp_path: Path,
) -> None:
    # 64 KiB messages: a merge of 3,000 customers (~190 KB of names) cannot go in one.
    settings = IdentitySettings(
        data_dir=tmp_path, max_message_bytes=64 * 1024, watch_batch_size=5000
    )
    merged = [f"{n:032x}" for n in range(1, 3001)]
    async with replica(settings) as stub:
        survivor = await create(stub, "survivor")
        survivor_id = survivor.customer.name.rsplit("/", 1)[1]
        await store_changes(
            settings,
            *[change_row(customer=survivor_id, other_customer_id=other) for other in merged],
        )
        responses: list[pb.WatchChangesResponse] = []
        while sum(len(r.change.other_customers) for r in responses) < len(merged):
            cursor = responses[-1].change.cursor if responses else "1"
            responses += await watch(stub, 1, start_cursor=cursor)

    assert len(responses) > 1
    assert all(r.ByteSize() <= 60 * 1024 for r in responses)
    assert all(r.skipped_change_count == 0 for r in responses)
    assert {(r.change.kind, r.change.customer) for r in responses} == {
        (pb.CHANGE_KIND_MERGED, survivor.customer.name)
    }
    streamed = [name.rsplit("/", 1)[1] for r in responses for name in r.change.other_customers]
    assert streamed == merged
    assert responses[-1].change.cursor == str(1 + len(merged))
