"""What the eventbus tests share: a small SQLite log, a cuttable TCP path to NATS,
and a reader of a whole stream."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import nats
from rapport.commitwatch import CommitNotifier
from rapport.eventbus import (
    ConsumerSpec,
    Event,
    LogRelay,
    LogSubjects,
    NatsBus,
    SqlRelayPosition,
    relay_positions_table,
)
from rapport.eventbus._connection import Backoff
from rapport.grpctesting import eventually
from rapport.sqlstore import SqlUnitOfWork, create_engine, ensure_schema
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

metadata = MetaData()
entries = Table(
    "entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("customer", String(64), nullable=False),
    Column("body", String, nullable=False),
)
positions = relay_positions_table(metadata)


@dataclass(frozen=True)
class Entry:
    seq: int
    workspace: str
    kind: str
    customer: str
    body: str


class SqlLog:
    """A durable log like a service's: rows appended in committed transactions, each
    commit announced on the notifier."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.notifier = CommitNotifier()

    @classmethod
    async def create(cls, url: str, schema: str | None = None) -> SqlLog:
        engine = create_engine(url, schema=schema)
        await ensure_schema(engine, schema)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        return cls(engine)

    async def append(
        self,
        count: int,
        *,
        workspace: str = "default",
        kind: str = "seen",
        customers: int = 3,
        body: Callable[[int], str] = str,
    ) -> None:
        """``count`` rows in one transaction; customer c<n % customers>, body body(n)."""
        async with SqlUnitOfWork(self.engine) as uow:
            last = await uow.connection.scalar(select(func.max(entries.c.seq))) or 0
            rows = [
                {
                    "workspace": workspace,
                    "kind": kind,
                    "customer": f"c{n % customers}",
                    "body": body(n),
                }
                for n in range(last + 1, last + count + 1)
            ]
            await uow.connection.execute(insert(entries), rows)
            await uow.commit()
        self.notifier.notify()

    async def read_after(self, seq: int, limit: int) -> list[Entry]:
        async with SqlUnitOfWork(self.engine, readonly=True) as uow:
            rows = await uow.connection.execute(
                select(entries).where(entries.c.seq > seq).order_by(entries.c.seq).limit(limit)
            )
            return [Entry(*row) for row in rows]

    def position(self, log: str = "entries") -> SqlRelayPosition:
        return SqlRelayPosition(self.engine, positions, log)


def encode(entry: Entry) -> Event | None:
    if entry.body == "POISON":
        raise ValueError("unreadable payload")
    if entry.kind == "internal":
        return None  # a kind this log does not relay
    return Event(entry.workspace, entry.kind, entry.customer, entry.body.encode())


def make_relay(bus: NatsBus, subjects: LogSubjects, log: SqlLog, **options) -> LogRelay[Entry]:
    options.setdefault("position", log.position())
    options.setdefault("poll_seconds", 30.0)  # only the notifier wakes it quickly
    options.setdefault("publish_timeout", 1.0)
    options.setdefault("backoff", Backoff(0.05, 0.3))
    return LogRelay(
        bus,
        subjects,
        read_after=log.read_after,
        cursor_of=lambda entry: entry.seq,
        encode=encode,
        notifier=log.notifier,
        **options,
    )


def new_subjects(partitions: int = 4) -> LogSubjects:
    return LogSubjects(
        service="t" + uuid.uuid4().hex[:10],
        log="entries",
        prefix="rapporttest",
        partitions=partitions,
    )


@contextlib.asynccontextmanager
async def running(*jobs) -> AsyncIterator[list[asyncio.Task]]:
    tasks = [asyncio.create_task(job()) for job in jobs]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def publish(bus: NatsBus, subjects: LogSubjects, log: SqlLog, count: int) -> None:
    """Relay the log into the stream until it holds ``count`` messages."""
    relay = make_relay(bus, subjects, log)
    async with running(relay.run):
        await eventually(lambda: relay.stats.published == count)


def quick(durable: str, **options) -> ConsumerSpec:
    options.setdefault("fetch_seconds", 0.5)
    options.setdefault("retry_delays", (0.05,))
    return ConsumerSpec(durable, **options)


@dataclass(frozen=True)
class Stored:
    subject: str
    data: bytes
    headers: dict[str, str]


async def stream_contents(url: str, stream: str) -> list[Stored]:
    """Every message of the stream, in stream order."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        state = (await js.stream_info(stream)).state
        found = []
        for seq in range(state.first_seq, state.last_seq + 1):
            message = await js.get_msg(stream, seq=seq)
            found.append(Stored(message.subject, message.data or b"", dict(message.headers or {})))
        return found
    finally:
        await client.close()


async def delete_stream(url: str, stream: str) -> None:
    client = await nats.connect(url)
    try:
        with contextlib.suppress(Exception):
            await client.jetstream().delete_stream(stream)
    finally:
        await client.close()


class TcpProxy:
    """127.0.0.1:<port> -> the NATS server, which a test can cut (every connection
    dropped, new ones refused: NATS is down for the client) and restore."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 4222)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update({writer, up_writer})
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._pipes.discard(writer)
            writer.transport.abort()
