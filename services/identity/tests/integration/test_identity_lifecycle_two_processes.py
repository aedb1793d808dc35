"""Two identity server PROCESSES sharing PostgreSQL: concurrent overlapping resolves.

Each server is `python -m rapport.identity` in its own process (no shared memory,
no shared asyncio loop): only PostgreSQL's locks keep the graph right.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rapport.grpctesting import eventually
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

from .._identity_support import ident

PARENT = "workspaces/default"
SERVICE = "rapport.identity.v1.IdentityService"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _wait_serving(address: str, process: asyncio.subprocess.Process) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            assert process.returncode is None, "identity server process exited during start-up"
            try:
                reply = await health.Check(
                    health_pb2.HealthCheckRequest(service=SERVICE), timeout=1
                )
            except grpc.aio.AioRpcError:
                return False
            return reply.status == health_pb2.HealthCheckResponse.SERVING

        await eventually(serving, timeout=60, interval=0.2)


@asynccontextmanager
async def server_process(
    postgres_url: str, pg_schema: str, log: Path
) -> AsyncIterator[pb_grpc.IdentityServiceStub]:
    port = _free_port()
    env = {
        **os.environ,
        "RAPPORT_IDENTITY_DATABASE_URL": postgres_url,
        "RAPPORT_IDENTITY_DATABASE_SCHEMA": pg_schema,
        "RAPPORT_IDENTITY_PORT": str(port),
        "RAPPORT_IDENTITY_HOST": "127.0.0.1",
        "RAPPORT_IDENTITY_DATA_DIR": str(log.parent),
    }
    env.pop("RAPPORT_IDENTITY_REDIS_URL", None)
    with log.open("wb") as output:  # noqa: ASYNC230 (a test's log file)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rapport.identity", env=env, stdout=output, stderr=output
        )
    address = f"127.0.0.1:{port}"
    try:
        await _wait_serving(address, process)
        async with grpc.aio.insecure_channel(address) as channel:
            yield pb_grpc.IdentityServiceStub(channel)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
    assert process.returncode == 0, (await asyncio.to_thread(log.read_text))[-2000:]


async def test_two_processes_resolving_overlapping_identifiers_end_in_one_customer(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    # 16 identifiers within the default limits (one user_id, five of the others).
    chain = (
        [("user_id", "u1")]
        + [("email", f"e{i}@x.io") for i in range(5)]
        + [("device_id", f"d{i}") for i in range(5)]
        + [("anonymous_id", f"a{i}") for i in range(5)]
    )
    # Call i links identifier i and i+1 (together they connect all of them); every
    # call is sent to both processes, in a shuffled order.
    observations = [[chain[i], chain[i + 1]] for i in range(len(chain) - 1)]
    async with (
        server_process(postgres_url, pg_schema, tmp_path / "first.log") as first,
        server_process(postgres_url, pg_schema, tmp_path / "second.log") as second,
    ):
        calls = [
            stub.Resolve(
                pb.ResolveRequest(
                    parent=PARENT, identifiers=[ident(*pair) for pair in observed], source="race"
                )
            )
            for observed in observations
            for stub in (first, second)
        ]
        random.Random(3).shuffle(calls)
        results = await asyncio.gather(*calls)

        assert all(not result.rejected_identifiers for result in results)
        listed = await second.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=100))
        assert len(listed.customers) == 1
        [survivor] = listed.customers
        assert {(i.type, i.value) for i in survivor.identifiers} == set(chain)
        per_type = Counter(i.type for i in survivor.identifiers)
        assert per_type["user_id"] == 1 and max(per_type.values()) <= 5
        # Every customer any call saw now resolves to the survivor, on both processes.
        for result in results:
            for name in (result.customer.name, *result.merged_customers):
                for stub in (first, second):
                    got = await stub.GetCustomer(pb.GetCustomerRequest(name=name))
                    assert got.name == survivor.name

        # A conflicting user_id never merges in, whichever process sees it.
        conflicting = await asyncio.gather(
            first.Resolve(
                pb.ResolveRequest(
                    parent=PARENT, identifiers=[ident("user_id", "u2"), ident("device_id", "d0")]
                )
            ),
            second.Resolve(
                pb.ResolveRequest(
                    parent=PARENT, identifiers=[ident("user_id", "u2"), ident("email", "e0@x.io")]
                )
            ),
        )
        after = await first.GetCustomer(pb.GetCustomerRequest(name=survivor.name))
        assert Counter(i.type for i in after.identifiers)["user_id"] == 1
        assert all(c.customer.name != survivor.name or c.rejected_identifiers for c in conflicting)
