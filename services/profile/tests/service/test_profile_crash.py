"""An acknowledged event is never lost: `python -m rapport.profile` is killed (SIGKILL)
in the middle of a stream of IngestEvents calls, restarted on the same database, and
every message id it had acknowledged is found stored."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rapport.grpctesting import eventually
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc

PARENT = "workspaces/default"
ACKNOWLEDGED = (pb.INGEST_STATUS_ACCEPTED, pb.INGEST_STATUS_DUPLICATE)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def profile_process(data_dir: Path, identity_address: str, port: int) -> Iterator[Any]:
    env = {
        **os.environ,
        "RAPPORT_PROFILE_PORT": str(port),
        "RAPPORT_PROFILE_DATA_DIR": str(data_dir),
        "RAPPORT_PROFILE_IDENTITY_ADDRESS": identity_address,
        "RAPPORT_PROFILE_LOG_LEVEL": "WARNING",
        # An ephemeral port: the default (8052) may be taken by another process.
        "RAPPORT_PROFILE_HTTP_PORT": "0",
    }
    log = (data_dir / "profile.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "rapport.profile"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        log.close()


async def serving(address: str) -> bool:
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.aio.AioRpcError:
        return False


def batch(event_factory: Any, round_: int, n: int) -> list[pb.Event]:
    return [
        event_factory(
            f"r{round_}-b{n}-{k}",
            type=pb.EVENT_TYPE_IDENTIFY,
            user_id=f"user-{(n * 7 + k) % 40}",
            traits={"n": n, "k": k},
        )
        for k in range(25)
    ]


async def stream_until_killed(
    address: str, event_factory: Any, round_: int, process: Any
) -> tuple[set[str], dict[str, pb.Event]]:
    """Four writers send batches until the process is killed (after 150 acks or so);
    the message ids acknowledged, and every event sent."""
    acknowledged: set[str] = set()
    sent: dict[str, pb.Event] = {}
    counter = iter(range(10_000))
    killed = asyncio.Event()

    async def writer(stub: Any) -> None:
        while not killed.is_set():
            events = batch(event_factory, round_, next(counter))
            sent.update((e.message_id, e) for e in events)
            try:
                reply = await stub.IngestEvents(
                    pb.IngestEventsRequest(parent=PARENT, events=events), timeout=10
                )
            except grpc.aio.AioRpcError:
                return  # the server is gone: this batch was never acknowledged
            acknowledged.update(r.message_id for r in reply.results if r.status in ACKNOWLEDGED)
            if len(acknowledged) >= 150 and not killed.is_set():
                os.kill(process.pid, signal.SIGKILL)
                killed.set()

    async with grpc.aio.insecure_channel(address) as channel:
        stub = profile_service_pb2_grpc.ProfileServiceStub(channel)
        await asyncio.wait_for(asyncio.gather(*(writer(stub) for _ in range(4))), 60)
    return acknowledged, sent


async def test_a_kill_9_loses_no_acknowledged_event(
    tmp_path: Path, identity: tuple[Any, str], event_factory: Any
) -> None:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    acknowledged: set[str] = set()
    sent: dict[str, pb.Event] = {}
    for round_ in range(2):
        with profile_process(tmp_path, identity[1], port) as process:
            await eventually(lambda: serving(address), timeout=30)
            acked, events = await stream_until_killed(address, event_factory, round_, process)
            assert process.wait(10) == -signal.SIGKILL
        acknowledged |= acked
        sent.update(events)
    assert len(acknowledged) >= 300 and len(sent) > len(acknowledged)  # some were in flight

    with profile_process(tmp_path, identity[1], port):
        await eventually(lambda: serving(address), timeout=30)
        async with grpc.aio.insecure_channel(address) as channel:
            stub = profile_service_pb2_grpc.ProfileServiceStub(channel)
            ids = sorted(acknowledged)
            for start in range(0, len(ids), 500):
                replay = [sent[m] for m in ids[start : start + 500]]
                reply = await stub.IngestEvents(
                    pb.IngestEventsRequest(parent=PARENT, events=replay)
                )
                assert {r.status for r in reply.results} == {pb.INGEST_STATUS_DUPLICATE}
                for result in reply.results:  # the event itself is there, not only its id
                    got = await stub.GetEvent(pb.GetEventRequest(name=result.event))
                    assert got.message_id == result.message_id
