"""The core scenario on PostgreSQL (no Redis: every check reads the database)."""

from __future__ import annotations

from datetime import timedelta

import grpc
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb

from .._consent_support import (
    FakeClock,
    check,
    consent_stub,
    customer_name,
    expect_error,
    record,
    run_core_scenario,
    valid_record,
)


async def test_core_scenario_on_postgres(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    settings = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with consent_stub(settings, clock) as stub:
        await run_core_scenario(stub, clock)


async def test_history_and_future_decisions_on_postgres(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    settings = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with consent_stub(settings, clock) as stub:
        customer = customer_name()
        names = []
        for i in range(5):
            clock.advance(seconds=1)
            state = pb.CONSENT_STATE_GRANTED if i % 2 == 0 else pb.CONSENT_STATE_DENIED
            names.append((await record(stub, customer, state)).name)
        withdrawal = await record(
            stub, customer, pb.CONSENT_STATE_DENIED, effective_time=clock.now + timedelta(minutes=2)
        )
        names.append(withdrawal.name)
        assert (await check(stub, customer)).record.name == names[4]
        clock.advance(minutes=2)
        assert (await check(stub, customer)).record.name == withdrawal.name

        seen, token = [], ""
        while True:
            page = await stub.ListConsentRecords(
                pb.ListConsentRecordsRequest(parent=customer, page_size=4, page_token=token)
            )
            seen += [r.name for r in page.consent_records]
            if not (token := page.next_page_token):
                break
        assert seen == names[::-1]


async def test_get_consent_record_on_postgres(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    settings = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with consent_stub(settings, clock) as stub:
        customer, other = customer_name(), customer_name()
        stored = await record(stub, customer, pb.CONSENT_STATE_GRANTED)
        got = await stub.GetConsentRecord(pb.GetConsentRecordRequest(name=stored.name))
        assert got == stored
        record_id = stored.name.rsplit("/", 1)[1]
        for missing in (
            f"{other}/consentRecords/{record_id}",
            f"{customer}/consentRecords/{'a' * 128}",  # longer than any stored id
        ):
            await expect_error(
                stub.GetConsentRecord(pb.GetConsentRecordRequest(name=missing)),
                grpc.StatusCode.NOT_FOUND,
            )


async def test_nul_characters_are_refused_on_postgres(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    """PostgreSQL text cannot hold NUL: INVALID_ARGUMENT naming the field, not INTERNAL."""
    settings = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with consent_stub(settings, clock) as stub:
        customer = customer_name()
        for field in ("source", "notice_version", "proof"):
            request = pb.RecordConsentRequest(
                parent=customer, record=valid_record(**{field: "web\x00form"})
            )
            await expect_error(
                stub.RecordConsent(request),
                grpc.StatusCode.INVALID_ARGUMENT,
                field=f"record.{field}",
            )
        assert (await check(stub, customer)).reason == "NO_RECORD_DEFAULT_DENY"
