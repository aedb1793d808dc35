"""The whole product in one process: start-up, generic calls, server error logs.

Everything here is generic: the services are found by the layout every service
keeps (``rapport.<svc>.v1.<svc>_service_pb2``, ``rapport.<svc>.settings.<Svc>Settings``,
``rapport.<svc>.bootstrap.build``), their wiring by their ``<svc>_address`` settings,
their RPCs by the protobuf descriptors. A new RPC or service setting needs no change.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rapport.config import ServiceSettings, TokenGrant
from rapport.grpcclients import error_details
from rapport.grpcserver import RunningServer, ServiceParts, start

# The product: five services. Their order here does not matter (start-up follows
# the `<svc>_address` settings).
SERVICE_NAMES = ("identity", "profile", "consent", "decisioning", "delivery")

# ---------------------------------------------------------------------------
# The services' modules


@dataclass(frozen=True)
class ServiceModules:
    name: str
    pb2: ModuleType
    settings_cls: type[ServiceSettings]
    bootstrap: ModuleType

    @property
    def services(self) -> list[ServiceDescriptor]:
        """The gRPC services the contract file declares."""
        return list(self.pb2.DESCRIPTOR.services_by_name.values())

    @property
    def methods(self) -> list[MethodDescriptor]:
        return [m for s in self.services for m in s.methods]

    async def build(self, settings: ServiceSettings) -> ServiceParts:
        return await self.bootstrap.build(settings)


def service_modules(name: str) -> ServiceModules:
    pb2 = importlib.import_module(f"rapport.{name}.v1.{name}_service_pb2")
    settings_module = importlib.import_module(f"rapport.{name}.settings")
    settings_cls = getattr(settings_module, f"{name.capitalize()}Settings")
    bootstrap = importlib.import_module(f"rapport.{name}.bootstrap")
    return ServiceModules(name, pb2, settings_cls, bootstrap)


def all_service_modules() -> list[ServiceModules]:
    return [service_modules(name) for name in SERVICE_NAMES]


def full_method(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def is_repeated(field: FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return field.label == FieldDescriptor.LABEL_REPEATED


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


# ---------------------------------------------------------------------------
# Calling any RPC generically


@dataclass
class CallResult:
    code: grpc.StatusCode
    details: str = ""
    info: error_details_pb2.ErrorInfo | None = None
    bad_request: error_details_pb2.BadRequest | None = None
    responses: list[Message] = field(default_factory=list)
    error: grpc.aio.AioRpcError | None = None

    @property
    def ok(self) -> bool:
        return self.code == grpc.StatusCode.OK

    def describe(self) -> str:
        text = self.code.name
        if self.info is not None:
            meta = dict(self.info.metadata)
            text += f" ErrorInfo(reason={self.info.reason!r}, domain={self.info.domain!r}"
            text += f", metadata={meta!r})" if meta else ")"
        if self.details:
            text += f" {self.details[:200]!r}"
        return text


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    return () if token is None else (("authorization", f"Bearer {token}"),)


async def call(
    channel: grpc.aio.Channel,
    method: MethodDescriptor,
    request: Message | bytes,
    *,
    token: str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - the gRPC deadline
    max_stream_items: int = 3,
    stream_timeout: float = 0.4,
) -> CallResult:
    """Call ``method`` with ``request`` (a message, or raw bytes sent as they are).

    Server-streaming calls read at most ``max_stream_items`` responses within a short
    deadline, then cancel. Client-streaming calls send the one request.
    """
    path = full_method(method)
    raw = isinstance(request, bytes)
    codec = {
        "request_serializer": None if raw else type(request).SerializeToString,
        "response_deserializer": message_class(method.output_type).FromString,
    }
    metadata = bearer(token)
    result = CallResult(grpc.StatusCode.OK)
    try:
        if method.server_streaming:
            if method.client_streaming:
                stream = channel.stream_stream(path, **codec)(
                    iter([request]), metadata=metadata, timeout=stream_timeout
                )
            else:
                stream = channel.unary_stream(path, **codec)(
                    request, metadata=metadata, timeout=stream_timeout
                )
            try:
                async for item in stream:
                    result.responses.append(item)
                    if len(result.responses) >= max_stream_items:
                        break  # read enough: cancelled below, the stream worked
            finally:
                stream.cancel()
        elif method.client_streaming:
            response = await channel.stream_unary(path, **codec)(
                iter([request]), metadata=metadata, timeout=timeout
            )
            result.responses.append(response)
        else:
            response = await channel.unary_unary(path, **codec)(
                request, metadata=metadata, timeout=timeout
            )
            result.responses.append(response)
    except grpc.aio.AioRpcError as err:
        result.code = err.code()
        result.details = err.details() or ""
        result.error = err
        result.info, result.bad_request = error_details(err)
    return result


async def health_status(address: str, service: str = "") -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        return reply.status


SERVING = health_pb2.HealthCheckResponse.SERVING


# ---------------------------------------------------------------------------
# Server-side error logs


@dataclass
class LoggedError:
    logger: str
    method: str | None
    message: str
    exc_text: str | None
    thread: int

    def summary(self) -> str:
        """The exception line and the innermost frame of the traceback."""
        if not self.exc_text:
            return f"{self.logger}: {self.message}"
        lines = [line for line in self.exc_text.strip().splitlines() if line.strip()]
        last = lines[-1].strip()
        frames = [line.strip() for line in lines if line.strip().startswith("File ")]
        where = frames[-1] if frames else ""
        return f"{last[:300]} [{where[:200]}]"


class ErrorLogCapture(logging.Handler):
    """Keeps every ERROR record (e.g. rapport.errors 'unhandled error' with its traceback)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[LoggedError] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        exc_text = None
        if record.exc_info:
            exc_text = logging.Formatter().formatException(record.exc_info)
        entry = LoggedError(
            record.name,
            getattr(record, "method", None),
            record.getMessage(),
            exc_text,
            record.thread or 0,
        )
        with self._lock:
            self.records.append(entry)

    def mark(self) -> int:
        return len(self.records)

    def since(self, mark: int, method: str | None = None) -> list[LoggedError]:
        with self._lock:
            records = self.records[mark:]
        if method is None:
            return records
        return [r for r in records if r.method == method]


@asynccontextmanager
async def capture_error_logs() -> AsyncIterator[ErrorLogCapture]:
    handler = ErrorLogCapture()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


# ---------------------------------------------------------------------------
# The suite


TokenSpec = TokenGrant | list[str] | Mapping[str, Sequence[str]]


@dataclass
class Suite:
    servers: dict[str, RunningServer]
    modules: dict[str, ServiceModules]
    channels: dict[str, grpc.aio.Channel]

    def address(self, service: str) -> str:
        return self.servers[service].address

    def channel(self, service: str) -> grpc.aio.Channel:
        return self.channels[service]


def _dependencies(settings_cls: type[ServiceSettings]) -> set[str]:
    return {
        name[: -len("_address")]
        for name in settings_cls.model_fields
        if name.endswith("_address") and name[: -len("_address")] in SERVICE_NAMES
    }


def start_order(modules: Iterable[ServiceModules]) -> list[ServiceModules]:
    """Services ordered so that each starts after those it calls (its `<svc>_address`)
    where it can. Calls going both ways (consent <-> delivery: data subject requests)
    cannot all be met: then the service waiting for the fewest others starts first, and
    start_suite gives those others a port before they start."""
    pending = {m.name: m for m in modules}
    ordered: list[ServiceModules] = []

    def by_name(m: ServiceModules) -> int:
        return SERVICE_NAMES.index(m.name)

    while pending:
        ready = [m for m in pending.values() if not (_dependencies(m.settings_cls) & set(pending))]
        if not ready:
            waiting = {
                m.name: len(_dependencies(m.settings_cls) & set(pending)) for m in pending.values()
            }
            ready = [min(pending.values(), key=lambda m: (waiting[m.name], by_name(m)))]
        for m in sorted(ready, key=by_name):
            ordered.append(m)
            del pending[m.name]
    return ordered


def unused_local_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_for(
    modules: ServiceModules,
    data_dir: Path,
    addresses: Mapping[str, str],
    *,
    workspaces: Sequence[str],
    auth_tokens: Mapping[str, TokenSpec] | None,
    outbound_token: str | None,
    smtp_port: int,
    background: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> ServiceSettings:
    fields = modules.settings_cls.model_fields
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        # Services with an HTTP endpoint have fixed default ports: ephemeral ones here,
        # so suites running at the same time never collide.
        "http_port": 0,
        "data_dir": data_dir,
        "database_url": None,
        "redis_url": None,
        "workspaces": list(workspaces),
        "drain_seconds": 0.0,
        "grace_seconds": 0.0,
    }
    if auth_tokens:
        values["auth_tokens"] = {
            token: grant if isinstance(grant, TokenGrant | list) else dict(grant)
            for token, grant in auth_tokens.items()
        }
    deps = _dependencies(modules.settings_cls)
    if deps:
        values["outbound_token"] = outbound_token
        for dep in deps:
            values[f"{dep}_address"] = addresses[dep]
    values.update({"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_timeout_seconds": 1.0})
    if background:
        # Delivery's dispatcher and decisioning's trigger runner run, quickly: nothing
        # listens on the SMTP port, so sends fail fast and give up after two attempts.
        values.update(
            {
                "retry_base_seconds": 0.05,
                "retry_max_seconds": 0.2,
                "max_attempts": 2,
                "dispatch_poll_seconds": 0.1,
                "trigger_backoff_initial_seconds": 0.05,
                "trigger_backoff_max_seconds": 0.2,
            }
        )
    else:
        values.update({"dispatcher_enabled": False, "triggers_enabled": False})
    values.update(extra or {})
    return modules.settings_cls(**{k: v for k, v in values.items() if k in fields})


@asynccontextmanager
async def start_suite(
    tmp_path: Path,
    *,
    workspaces: Sequence[str] = ("default", "brand-b"),
    auth_tokens: Mapping[str, TokenSpec] | None = None,
    outbound_token: str | None = None,
    background: bool = False,
    extra_settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> AsyncIterator[Suite]:
    """All five services in-process, each with its own SQLite file under ``tmp_path``,
    wired to each other by address; stopped with drain=0, grace=0.

    ``auth_tokens``: {token: TokenGrant | [scopes] | {"scopes": [...], "workspaces": [...]}};
    ``outbound_token``: what the services calling others send. ``background``: run
    delivery's dispatcher and decisioning's trigger runner (off by default).
    ``extra_settings``: {service: {setting: value}}, applied last.
    """
    smtp_port = unused_local_port()
    servers: dict[str, RunningServer] = {}
    channels: dict[str, grpc.aio.Channel] = {}
    ordered = start_order(all_service_modules())
    # Services called by one started before them: their port is chosen up front.
    reserved: dict[str, int] = {}
    try:
        for modules in ordered:
            data_dir = tmp_path / modules.name
            data_dir.mkdir(parents=True, exist_ok=True)
            for dep in sorted(_dependencies(modules.settings_cls) - set(servers)):
                reserved.setdefault(dep, unused_local_port())
            addresses = {name: f"127.0.0.1:{port}" for name, port in reserved.items()}
            addresses.update({name: server.address for name, server in servers.items()})
            extra = dict((extra_settings or {}).get(modules.name) or {})
            if modules.name in reserved:
                extra.setdefault("port", reserved[modules.name])
            settings = settings_for(
                modules,
                data_dir,
                addresses,
                workspaces=workspaces,
                auth_tokens=auth_tokens,
                outbound_token=outbound_token,
                smtp_port=smtp_port,
                background=background,
                extra=extra,
            )
            parts = await modules.build(settings)
            try:
                servers[modules.name] = await start(parts, settings)
            except BaseException:
                for hook in parts.on_close:
                    with suppress(Exception):
                        await hook()
                raise
        for name, server in servers.items():
            channels[name] = grpc.aio.insecure_channel(
                server.address,
                options=[
                    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                    ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ],
            )
        yield Suite(servers, {m.name: m for m in ordered}, channels)
    finally:
        for channel in channels.values():
            await channel.close()
        # Callers first, so nothing calls a stopped service meanwhile.
        for modules in reversed(ordered):
            server = servers.get(modules.name)
            if server is not None:
                await server.stop(grace=0, drain=0)
        await asyncio.sleep(0)
