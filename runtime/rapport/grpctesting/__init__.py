"""Helpers for service tests: in-process servers, fakes, error details, polling."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from rapport.config import ServiceSettings
from rapport.grpcclients import unpack_details
from rapport.grpcserver import RunningServer, ServiceParts, start

__all__ = [
    "HeldAfterRead",
    "eventually",
    "expect_error",
    "first_responses",
    "serve_fakes",
    "serve_in_process",
    "status_details",
]

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


@asynccontextmanager
async def serve_in_process(
    build: Callable[[S], Awaitable[ServiceParts]], settings: S
) -> AsyncIterator[RunningServer]:
    """Build and start the service on an ephemeral loopback port; stop it afterwards.

    A service with an HTTP app serves it on another ephemeral loopback port:
    ``running.http_address`` (None without one). It stops without drain or
    grace so tests stay fast.
    """
    settings = settings.model_copy(
        update={"port": 0, "host": "127.0.0.1", "http_port": 0, "http_host": "127.0.0.1"}
    )
    parts = await build(settings)
    running = await start(parts, settings)
    try:
        yield running
    finally:
        await running.stop(grace=0, drain=0)


@asynccontextmanager
async def serve_fakes(
    *register: Callable[[grpc.aio.Server], None],
) -> AsyncIterator[str]:
    """Serve fake servicers on an ephemeral loopback port; yields ``host:port``.

    ``async with serve_fakes(lambda s: add_XServicer_to_server(fake, s)) as address:``
    A plain grpc.aio server: no runtime interceptors, so fakes answer exactly
    what they abort or return.
    """
    server = grpc.aio.server()
    for add in register:
        add(server)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise RuntimeError("could not bind a loopback port for the fakes")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def _rich_status(err: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    # Strict on purpose (unlike rapport.grpcclients.error_details): a trailer
    # that disagrees with the call's code or message is a bug a test must see.
    return rpc_status.from_call(err)


def status_details(
    err: grpc.aio.AioRpcError,
) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.BadRequest | None]:
    """The ErrorInfo and BadRequest details of a failed call, if present.

    Raises ValueError when the status trailer disagrees with the call's code or message.
    """
    status = _rich_status(err)
    if status is None:
        return None, None
    return unpack_details(status)


async def expect_error(
    call: Awaitable[Any],
    code: grpc.StatusCode,
    *,
    domain: str | None = None,
    field: str | None = None,
) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.BadRequest | None]:
    """Await ``call``; assert it fails with ``code`` and exactly one ErrorInfo; return the details.

    ``domain`` checks ErrorInfo.domain; ``field`` checks, for InvalidArgument,
    that the BadRequest names exactly that field (and the ErrorInfo metadata too).
    """
    try:
        await call
    except grpc.aio.AioRpcError as err:
        assert err.code() == code, f"expected {code.name}, got {err.code().name}: {err.details()}"
        status = _rich_status(err)
        assert status is not None, f"{code.name} without a google.rpc.Status: {err.details()}"
        infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
        assert len(infos) == 1, f"expected exactly one ErrorInfo, got {len(infos)}"
        info, bad_request = unpack_details(status)
        assert info is not None
        if domain is not None:
            assert info.domain == domain, f"ErrorInfo.domain {info.domain!r} != {domain!r}"
        if field is not None:
            assert bad_request is not None, "expected a BadRequest detail"
            assert [v.field for v in bad_request.field_violations] == [field]
            assert info.metadata["field"] == field
        return info, bad_request
    raise AssertionError(f"expected {code.name}, but the call succeeded")


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - a polling budget; the result is the point
    interval: float = 0.02,
) -> T:
    """Poll ``check`` (sync or async) until it returns something truthy; return that.

    Raises AssertionError with the last value once ``timeout`` seconds passed, also
    when one check itself hangs (an RPC without a deadline): a test fails, never hangs.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value: Any = None
    while True:
        result = check()
        if inspect.isawaitable(result):
            try:
                async with asyncio.timeout_at(deadline):
                    result = await result
            except TimeoutError:
                raise AssertionError(
                    f"a check was still running after {timeout}s; last value: {value!r}"
                ) from None
        value = result
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise AssertionError(f"not true within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)


async def first_responses(call: Any, count: int, *, within: float = 5.0) -> list[Any]:
    """The first ``count`` responses of a server-streaming ``call`` (fewer if it ends or
    ``within`` seconds pass); the call is cancelled afterwards (Watch* never end)."""
    received: list[Any] = []
    try:
        async with asyncio.timeout(within):
            async for response in call:
                received.append(response)
                if len(received) == count:
                    break
    except TimeoutError:
        pass
    finally:
        call.cancel()
    return received


class Patcher(Protocol):
    """What HeldAfterRead needs of pytest's monkeypatch (undone after the test)."""

    def setattr(self, target: Any, name: str, value: Any) -> None: ...


class HeldAfterRead:
    """Puts a concurrent change between a read and what its caller does next, every time.

    Patches the async method ``name`` of ``owner`` (a repository class) through
    ``monkeypatch``: once ``armed``, the next call (whose answer is not empty, unless
    ``hold_empty``) is held after its read until ``release`` is set; ``reached`` is set
    when it is. ``calls`` counts the calls.
    """

    def __init__(
        self,
        monkeypatch: Patcher,
        owner: type,
        name: str,
        *,
        armed: bool = True,
        hold_empty: bool = False,
    ) -> None:
        self.armed = armed
        self.calls = 0
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        original = getattr(owner, name)

        async def held(repo: Any, *args: Any, **kwargs: Any) -> Any:
            found = await original(repo, *args, **kwargs)
            self.calls += 1
            if self.armed and (found or hold_empty):
                self.armed = False
                self.reached.set()
                await self.release.wait()
            return found

        monkeypatch.setattr(owner, name, held)
