"""The stand-ins bench_delivery_throughput.py runs delivery against: the provider's side
(an aiosmtpd sink and a webhook receiver, in a process of their own, counting what they
get in shared memory) and a gRPC profile service answering every customer's traits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rapport import eventloop
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc


class Counter:
    """Messages a sink got, and when the last one came (perf_counter: one clock for every
    process of this machine), shared with the process the sinks run in."""

    def __init__(self, context: Any) -> None:
        self._count = context.Value("q", 0, lock=False)
        self._last = context.Value("d", 0.0, lock=False)

    def got_one(self) -> None:
        # Only the sinks' process writes, one event loop: no lock needed.
        self._count.value += 1
        self._last.value = time.perf_counter()

    @property
    def count(self) -> int:
        return int(self._count.value)

    @property
    def last(self) -> float:
        return float(self._last.value)


class Sink:
    """aiosmtpd handler counting mails (in the sinks' process, as a relay would be)."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self._counter.got_one()
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
                self._counter.got_one()
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
