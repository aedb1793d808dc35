"""Helpers of the identity service tests: identifiers, servers, expected errors, streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from rapport.commitwatch import CommitNotifier
from rapport.errors import Unavailable
from rapport.grpctesting import expect_error, first_responses, serve_in_process
from rapport.identity.adapters.lifecycle_repository import ChangeRow
from rapport.identity.bootstrap import ERROR_DOMAIN, build
from rapport.identity.domain.model import Change
from rapport.identity.service_layer.dependencies import ChangeEncoder
from rapport.identity.service_layer.watch import stream_changes
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc
from rapport.sqlstore import create_engine
from rapport.type.v1 import identifier_pb2
from sqlalchemy import Table, insert

DOMAIN = "identity.rapport.dev"
assert DOMAIN == ERROR_DOMAIN  # the contract's stable error domain
PARENT = "workspaces/default"

Stub = pb_grpc.IdentityServiceStub


def ident(type_: str, value: str) -> identifier_pb2.Identifier:
    return identifier_pb2.Identifier(type=type_, value=value)


@asynccontextmanager
async def replica(settings: IdentitySettings) -> AsyncIterator[Stub]:
    """A stub of an identity server started in-process with ``settings``."""
    async with (
        serve_in_process(build, settings) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.IdentityServiceStub(channel)


async def store_rows(settings: IdentitySettings, table: Table, *rows: dict[str, Any]) -> None:
    """Write rows straight into the service's database (as an earlier release, a bug or
    damage might have left them)."""
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(table), list(rows))
    finally:
        await engine.dispose()


@dataclass
class RpcFailure:
    """A failed call's error, its ErrorInfo and the BadRequest's single field (if any)."""

    error: grpc.aio.AioRpcError
    info: error_details_pb2.ErrorInfo
    field: str | None


async def fails(call: Awaitable[Any], code: grpc.StatusCode) -> RpcFailure:
    """rapport.grpctesting.expect_error with the identity domain, keeping the error."""
    failed: list[grpc.aio.AioRpcError] = []

    async def kept() -> Any:
        try:
            return await call
        except grpc.aio.AioRpcError as err:
            failed.append(err)
            raise

    info, bad_request = await expect_error(kept(), code, domain=DOMAIN)
    violations = bad_request.field_violations if bad_request is not None else []
    if violations:
        assert len(violations) == 1 and info.metadata["field"] == violations[0].field
    return RpcFailure(failed[0], info, violations[0].field if violations else None)


async def expect_invalid(call: Awaitable[Any], field: str) -> str:
    """INVALID_ARGUMENT naming exactly ``field``; the violation's description."""
    _, bad_request = await expect_error(
        call, grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN, field=field
    )
    assert bad_request is not None
    return bad_request.field_violations[0].description


async def watch(
    stub: Stub, count: int, *, within: float = 5.0, **request: Any
) -> list[pb.WatchChangesResponse]:
    """The first ``count`` WatchChanges responses (of workspace default unless ``parent``)."""
    request.setdefault("parent", PARENT)
    call = stub.WatchChanges(pb.WatchChangesRequest(**request))
    return await first_responses(call, count, within=within)


class DomainChanges:
    """A ChangeEncoder for service-layer tests: a response stays (change, skipped count);
    its size is that of its text."""

    def response(
        self, workspace: str, change: Change, skipped_change_count: int
    ) -> tuple[Change, int]:
        return change, skipped_change_count

    def size(self, encoded: Any) -> int:
        return len(repr(encoded).encode())


async def stream_once(
    rows: Sequence[ChangeRow],
    *,
    encoder: ChangeEncoder | None = None,
    max_bytes: int = 1 << 20,
    batch_size: int = 100,
) -> list[Any]:
    """What WatchChanges streams of ``rows`` (one read), until the stream ends."""
    notifier = CommitNotifier()

    async def read_after(after: int, limit: int) -> list[ChangeRow]:
        notifier.close()  # the stream ends after this read
        return [row for row in rows if row.seq > after][:limit]

    streamed: list[Any] = []
    with pytest.raises(Unavailable):
        async for response in stream_changes(
            notifier,
            read_after,
            workspace="default",
            after=0,
            encoder=encoder or DomainChanges(),
            max_bytes=max_bytes,
            batch_size=batch_size,
            poll_seconds=0.01,
        ):
            streamed.append(response)
    return streamed
