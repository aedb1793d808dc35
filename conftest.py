"""Root pytest fixtures: PostgreSQL, Redis and NATS (JetStream) for integration tests.

They skip with a message when the server is absent, and fail instead when
CI=true (in CI all three must run on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

_PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
_REDIS_DEFAULT = "redis://127.0.0.1:6379/15"
_NATS_DEFAULT = "nats://127.0.0.1:4222"


def _unavailable(what: str, url: str, env: str, why: str) -> None:
    message = (
        f"{what} not reachable at {_safe(url)} ({why}); start it or set {env} to run these tests"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _safe(url: str) -> str:
    # Never print a password from the URL.
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _tcp_probe(url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1
        ):
            return None
    except OSError as exc:
        return str(exc)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_execute(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("RAPPORT_TEST_POSTGRES_URL", _PG_DEFAULT)
    if (why := _tcp_probe(url, 5432)) is not None:
        _unavailable("PostgreSQL", url, "RAPPORT_TEST_POSTGRES_URL", why)
    try:
        asyncio.run(_pg_execute(url, "SELECT 1"))
    except Exception as exc:  # auth, missing database...
        _unavailable("PostgreSQL", url, "RAPPORT_TEST_POSTGRES_URL", repr(exc))
    return url


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema name for one test, dropped (CASCADE) afterwards."""
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    asyncio.run(_drop_schema(postgres_url, schema))


async def _drop_schema(url: str, schema: str) -> None:
    drop = f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'
    try:
        await _pg_execute(url, "SET lock_timeout = '5s'", drop)
    except Exception:
        # A test that failed mid-transaction may have left a session holding
        # locks on the schema: end sessions stuck "idle in transaction" for a
        # while (never fresh ones of another run), then drop again.
        await _pg_execute(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state LIKE 'idle in transaction%'"
            " AND state_change < now() - interval '5 seconds'",
            "SET lock_timeout = '30s'",
            drop,
        )


async def _redis_command(url: str, *command: str) -> None:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.execute_command(*command)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The test Redis database (db 15 by default), flushed before and after the session.

    Session scope (a shared database): tests use their own key prefixes.
    """
    url = os.environ.get("RAPPORT_TEST_REDIS_URL", _REDIS_DEFAULT)
    if (why := _tcp_probe(url, 6379)) is not None:
        _unavailable("Redis", url, "RAPPORT_TEST_REDIS_URL", why)
    try:
        asyncio.run(_redis_command(url, "FLUSHDB"))
    except Exception as exc:
        _unavailable("Redis", url, "RAPPORT_TEST_REDIS_URL", repr(exc))
    yield url
    asyncio.run(_redis_command(url, "FLUSHDB"))


async def _jetstream_account(url: str) -> None:
    import nats

    async def quiet(_exc: Exception) -> None:
        return None  # the failure is reported by the fixture

    # max_reconnect_attempts=1: the client's first connect otherwise retries forever.
    client = await asyncio.wait_for(
        nats.connect(
            url,
            connect_timeout=2,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            error_cb=quiet,
        ),
        10,
    )
    try:
        await client.jetstream(timeout=2).account_info()  # fails without JetStream
    finally:
        await client.close()


@pytest.fixture(scope="session")
def nats_url() -> str:
    """A NATS server with JetStream. Shared: tests use their own stream and subject names
    (and delete their streams)."""
    url = os.environ.get("RAPPORT_TEST_NATS_URL", _NATS_DEFAULT)
    if (why := _tcp_probe(url, 4222)) is not None:
        _unavailable("NATS", url, "RAPPORT_TEST_NATS_URL", why)
    try:
        asyncio.run(_jetstream_account(url))
    except Exception as exc:
        _unavailable("NATS with JetStream", url, "RAPPORT_TEST_NATS_URL", repr(exc))
    return url


_MARKS = {
    "postgres_url": "postgres",
    "pg_schema": "postgres",
    "redis_url": "redis",
    "nats_url": "nats",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests using the fixtures get the marker, so `-m "not postgres"` works.
    for item in items:
        for fixture, mark in _MARKS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, mark))
