"""Outbound port to the profile service: the profile events of status changes
(`Email Delivered`...), sent in batches by the outbox relay."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import grpc
from rapport.delivery.domain import names
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.type.v1 import identifier_pb2
from rapport.wellknowntypes import dict_to_struct, to_timestamp

from .upstream import as_upstream_unavailable


@dataclass(frozen=True)
class ProfileEvent:
    # Unique per status change: profile stores a replay once.
    message_id: str
    event: str
    identifiers: tuple[tuple[str, str], ...]
    properties: dict[str, object]
    time: datetime


class ProfileEventSink(abc.ABC):
    @abc.abstractmethod
    async def ingest(
        self, workspace: str, events: Sequence[ProfileEvent], *, now: datetime
    ) -> list[bool]:
        """Send the events (`now`: the sender's clock, for profile's skew correction);
        per event whether profile stored it (now or before) rather
        than rejecting it. Raises UpstreamUnavailable when the call failed."""


class GrpcProfileEventSink(ProfileEventSink):
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = profile_service_pb2_grpc.ProfileServiceStub(channel)

    async def ingest(
        self, workspace: str, events: Sequence[ProfileEvent], *, now: datetime
    ) -> list[bool]:
        sent_time = to_timestamp(now)
        request = profile_service_pb2.IngestEventsRequest(
            parent=names.workspace_name(workspace),
            events=[
                profile_service_pb2.Event(
                    type=profile_service_pb2.EVENT_TYPE_TRACK,
                    message_id=event.message_id,
                    event=event.event,
                    identifiers=[
                        identifier_pb2.Identifier(type=kind, value=value)
                        for kind, value in event.identifiers
                    ],
                    properties=dict_to_struct(dict(event.properties)),
                    original_time=to_timestamp(event.time),
                    sent_time=sent_time,
                )
                for event in events
            ],
        )
        try:
            reply = await self._stub.IngestEvents(request)
        except grpc.aio.AioRpcError as err:
            raise as_upstream_unavailable("profile", err) from None
        if len(reply.results) != len(events):
            raise as_upstream_unavailable("profile", None)
        return [r.status != profile_service_pb2.INGEST_STATUS_REJECTED for r in reply.results]
