"""Outbound port to the consent service: record an opt-out (unsubscribe links, STOP
replies, hard bounces, complaints)."""

from __future__ import annotations

import abc
from datetime import datetime

import grpc
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.delivery.domain.model import Channel
from rapport.type.v1 import channel_pb2
from rapport.wellknowntypes import to_timestamp

from .upstream import as_upstream_unavailable


class ConsentRecorder(abc.ABC):
    @abc.abstractmethod
    async def record_opt_out(
        self,
        customer: str,
        purpose: str,
        channel: Channel,
        *,
        source: str,
        proof: str,
        effective_time: datetime | None = None,
    ) -> None:
        """Record a denial; raises UpstreamUnavailable when it could not be recorded."""


class GrpcConsentRecorder(ConsentRecorder):
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = consent_service_pb2_grpc.ConsentServiceStub(channel)

    async def record_opt_out(
        self,
        customer: str,
        purpose: str,
        channel: Channel,
        *,
        source: str,
        proof: str,
        effective_time: datetime | None = None,
    ) -> None:
        record = consent_service_pb2.ConsentRecord(
            purpose=purpose,
            channel=channel_pb2.Channel.Value(f"CHANNEL_{channel.value}"),
            state=consent_service_pb2.CONSENT_STATE_DENIED,
            source=source,
            proof=proof,
            effective_time=to_timestamp(effective_time) if effective_time is not None else None,
        )
        try:
            await self._stub.RecordConsent(
                consent_service_pb2.RecordConsentRequest(parent=customer, record=record)
            )
        except grpc.aio.AioRpcError as err:
            raise as_upstream_unavailable("consent", err) from None
