"""Outbound port to the consent service: may we contact this customer now?"""

from __future__ import annotations

import abc

import grpc
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.delivery.domain.model import Channel
from rapport.type.v1 import channel_pb2

from .upstream import as_upstream_unavailable


class ConsentClient(abc.ABC):
    @abc.abstractmethod
    async def is_allowed(self, customer: str, purpose: str, channel: Channel) -> bool:
        """Consent in force now; raises UpstreamUnavailable when it cannot be known."""


class GrpcConsentClient(ConsentClient):
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = consent_service_pb2_grpc.ConsentServiceStub(channel)

    async def is_allowed(self, customer: str, purpose: str, channel: Channel) -> bool:
        request = consent_service_pb2.CheckConsentRequest(
            customer=customer,
            purpose=purpose,
            channel=channel_pb2.Channel.Value(f"CHANNEL_{channel.value}"),
            # check_time unset: the consent in force now.
        )
        try:
            reply = await self._stub.CheckConsent(request)
        except grpc.aio.AioRpcError as err:
            # Whatever the error, no answer means no send (yet).
            raise as_upstream_unavailable("consent", err) from None
        return reply.allowed
