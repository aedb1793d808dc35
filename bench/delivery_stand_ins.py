"""The stand-ins bench_delivery_throughput.py runs delivery against: the provider's side
(an aiosmtpd sink and a webhook receiver, in a process of their own, counting what they
get in shared memory) and a gRPC profile service answering every customer's traits; with
--replicas, the processes of the servers (delivery replicas; consent with the profile
stand-in) and the CPU time of each, read from /proc."""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

from rapport import eventloop
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc

# What names the delivery message in what a sink got: the same on every attempt (an
# email's Message-ID is drawn afresh per attempt, so it would not show a second send).
_MAIL_KEY = re.compile(rb"^X-Rapport-Message:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)
_HOOK_KEY = re.compile(rb"^webhook-id:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)


class Counter:
    """Distinct messages a sink got, when the last one came (perf_counter: one clock for
    every process of this machine) and how many came again (duplicates), shared with
    the process the sinks run in."""

    def __init__(self, context: Any) -> None:
        self._count = context.Value("q", 0, lock=False)
        self._last = context.Value("d", 0.0, lock=False)
        self._duplicates = context.Value("q", 0, lock=False)
        # Only in the sinks' process: the keys seen so far.
        self._seen: set[bytes] = set()

    def got_one(self, key: bytes | None) -> None:
        # Only the sinks' process writes, one event loop: no lock needed.
        if key is not None and key in self._seen:
            self._duplicates.value += 1
            return
        if key is not None:
            self._seen.add(key)
        self._count.value += 1
        self._last.value = time.perf_counter()

    @property
    def count(self) -> int:
        return int(self._count.value)

    @property
    def duplicates(self) -> int:
        return int(self._duplicates.value)

    @property
    def last(self) -> float:
        return float(self._last.value)


class Sink:
    """aiosmtpd handler counting mails (in the sinks' process, as a relay would be)."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        found = _MAIL_KEY.search(envelope.original_content or envelope.content)
        self._counter.got_one(found.group(1) if found else None)
        return "250 OK"


class Receiver:
    """A minimal HTTP/1.1 keep-alive receiver answering 204 to every POST."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                found = _HOOK_KEY.search(head)
                self._counter.got_one(found.group(1) if found else None)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the sender closed its connection
        finally:
            writer.close()


def sinks_main(mails: Counter, hooks: Counter, smtp_port: int, ready: Any, stop: Any) -> None:
    """The SMTP sink and the webhook receiver, in a process of their own (the provider's
    side: its CPU is not the delivery process's); sends the receiver's port when ready."""
    from aiosmtpd.smtp import SMTP

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        smtp = await loop.create_server(
            lambda: SMTP(Sink(mails), hostname="127.0.0.1"), "127.0.0.1", smtp_port
        )
        http = await asyncio.start_server(Receiver(hooks).serve, "127.0.0.1", 0)
        ready.send(http.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, stop.wait)
        smtp.close()
        http.close()

    eventloop.run(serve())


class Profiles(profile_service_pb2_grpc.ProfileServiceServicer):
    def __init__(self) -> None:
        # Calls received over the whole run (warm-up included), printed with the figures.
        self.gets = 0
        self.batches = 0
        self.batched = 0

    async def GetProfile(  # noqa: N802
        self, request: profile_service_pb2.GetProfileRequest, context: Any
    ) -> profile_service_pb2.Profile:
        self.gets += 1
        return _profile(request.name)

    async def BatchGetProfiles(  # noqa: N802
        self, request: profile_service_pb2.BatchGetProfilesRequest, context: Any
    ) -> profile_service_pb2.BatchGetProfilesResponse:
        self.batches += 1
        self.batched += len(request.names)
        # Every customer has a profile here: the batch is never refused.
        return profile_service_pb2.BatchGetProfilesResponse(
            profiles=[_profile(name) for name in request.names]
        )

    async def IngestEvents(  # noqa: N802
        self, request: profile_service_pb2.IngestEventsRequest, context: Any
    ) -> profile_service_pb2.IngestEventsResponse:
        # The closed loop's status events (Email Sent...), accepted as profile would.
        return profile_service_pb2.IngestEventsResponse(
            results=[
                profile_service_pb2.EventResult(
                    message_id=event.message_id, status=profile_service_pb2.INGEST_STATUS_ACCEPTED
                )
                for event in request.events
            ]
        )


def _profile(name: str) -> profile_service_pb2.Profile:
    customer = name.removesuffix("/profile")
    cid = customer.rsplit("/", 1)[1]
    traits = {
        "email": f"{cid}@example.com",
        "first_name": "Ada",
        "timezone": "Europe/Paris",
    }
    return profile_service_pb2.Profile(
        name=name,
        customer=customer,
        traits={k: profile_service_pb2.Trait(value=_string(v)) for k, v in traits.items()},
    )


def _string(value: str) -> Any:
    from google.protobuf import struct_pb2

    return struct_pb2.Value(string_value=value)


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, every thread) the process `pid` has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # After the command's name (in parentheses, which may hold spaces): fields 3...;
        # utime and stime are fields 14 and 15, in clock ticks.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peers_main(consent_db: dict[str, Any], ready: Any, stop: Any) -> None:
    """The consent service and the profile stand-in, in a process of their own (delivery's
    peers, shared by every replica); sends (profile address, consent address) when
    ready and, once stopped, the profile stand-in's call counts."""
    from rapport.consent.bootstrap import build as build_consent
    from rapport.consent.settings import ConsentSettings
    from rapport.grpctesting import serve_fakes, serve_in_process

    profiles = Profiles()

    async def serve() -> None:
        settings = ConsentSettings(**consent_db, log_level="WARNING")
        async with (
            serve_fakes(
                lambda s: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(profiles, s)
            ) as profile_address,
            serve_in_process(build_consent, settings) as consent,
        ):
            ready.send((profile_address, consent.address))
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        ready.send((profiles.gets, profiles.batches, profiles.batched))

    eventloop.run(serve())


def replica_main(settings: dict[str, Any], sent: Any, ready: Any, stop: Any) -> None:
    """One delivery replica (the service's own bootstrap, its own port), in a process of
    its own; sends its address when ready. `sent` (shared memory) counts the messages its
    dispatcher attempted that ended SENT: which replica did the work."""
    from rapport.delivery.bootstrap import build as build_delivery
    from rapport.delivery.domain.model import MessageState
    from rapport.delivery.service_layer import dispatcher
    from rapport.delivery.settings import DeliverySettings
    from rapport.grpctesting import serve_in_process

    attempt = dispatcher.attempt_delivery

    async def counted(message: Any, deps: Any) -> None:
        await attempt(message, deps)
        if message.state is MessageState.SENT:
            sent.value += 1  # one event loop writes it: no lock

    # The bench's counter around each attempt the dispatcher makes (nothing else changes).
    dispatcher.attempt_delivery = counted  # type: ignore[assignment]

    async def serve() -> None:
        async with serve_in_process(build_delivery, DeliverySettings(**settings)) as delivery:
            ready.send(delivery.address)
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    eventloop.run(serve())


def machine_cpu_seconds() -> float:
    """CPU time every process of this machine has used so far (all cores, idle excluded)."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, stat.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def store_cpu_seconds() -> float:
    """CPU time the PostgreSQL and Redis processes running now have used so far (a backend
    that exited meanwhile is missed: about right while the pools keep their connections)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/comm", encoding="ascii") as comm:
                if comm.read().strip() not in ("postgres", "redis-server"):
                    continue
            total += cpu_seconds(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total
