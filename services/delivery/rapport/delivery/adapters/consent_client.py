"""Outbound port to the consent service: may we contact this customer now?"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import grpc
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.delivery.domain import names
from rapport.delivery.domain.model import Channel
from rapport.type.v1 import channel_pb2

from .upstream import as_upstream_unavailable


class ConsentClient(abc.ABC):
    @abc.abstractmethod
    async def is_allowed(self, customer: str, purpose: str, channel: Channel) -> bool:
        """Consent in force now; raises UpstreamUnavailable when it cannot be known."""

    @abc.abstractmethod
    async def allowed_channels(
        self, customer: str, purpose: str, channels: Sequence[Channel]
    ) -> dict[Channel, bool]:
        """Consent in force now on each channel, in one call; raises UpstreamUnavailable."""


def _check(
    customer: str, purpose: str, channel: Channel
) -> consent_service_pb2.CheckConsentRequest:
    return consent_service_pb2.CheckConsentRequest(
        customer=customer,
        purpose=purpose,
        channel=channel_pb2.Channel.Value(f"CHANNEL_{channel.value}"),
        # check_time unset: the consent in force now.
    )


class GrpcConsentClient(ConsentClient):
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = consent_service_pb2_grpc.ConsentServiceStub(channel)

    async def is_allowed(self, customer: str, purpose: str, channel: Channel) -> bool:
        try:
            reply = await self._stub.CheckConsent(_check(customer, purpose, channel))
        except grpc.aio.AioRpcError as err:
            # Whatever the error, no answer means no send (yet).
            raise as_upstream_unavailable("consent", err) from None
        return reply.allowed

    async def allowed_channels(
        self, customer: str, purpose: str, channels: Sequence[Channel]
    ) -> dict[Channel, bool]:
        workspace, _ = names.parse_customer(customer, field="customer")
        request = consent_service_pb2.BatchCheckConsentRequest(
            parent=names.workspace_name(workspace),
            requests=[_check(customer, purpose, channel) for channel in channels],
        )
        try:
            reply = await self._stub.BatchCheckConsent(request)
        except grpc.aio.AioRpcError as err:
            raise as_upstream_unavailable("consent", err) from None
        if len(reply.responses) != len(channels):
            # An answer that does not fit the question is no answer: no send (yet).
            raise as_upstream_unavailable("consent", None)
        return {c: r.allowed for c, r in zip(channels, reply.responses, strict=True)}
