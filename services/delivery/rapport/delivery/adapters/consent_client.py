"""Outbound port to the consent service: what is recorded for contacting this customer
now (granted, denied, or nothing recorded: domain/consent.py decides what that allows)."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Sequence

import grpc
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.delivery.domain import names
from rapport.delivery.domain.consent import ConsentAnswer
from rapport.delivery.domain.model import Channel
from rapport.groupcommit import GroupCommit
from rapport.type.v1 import channel_pb2

from .upstream import as_upstream_unavailable


class ConsentClient(abc.ABC):
    @abc.abstractmethod
    async def check(self, customer: str, purpose: str, channel: Channel) -> ConsentAnswer:
        """Consent in force now; raises UpstreamUnavailable when it cannot be known."""

    @abc.abstractmethod
    async def check_channels(
        self, customer: str, purpose: str, channels: Sequence[Channel]
    ) -> dict[Channel, ConsentAnswer]:
        """Consent in force now on each channel, in one call; raises UpstreamUnavailable."""


# CheckConsentResponse.reason when nothing is recorded and the opt-in default answered.
_NO_RECORD = "NO_RECORD_DEFAULT_DENY"


def _answer(reply: consent_service_pb2.CheckConsentResponse) -> ConsentAnswer:
    if reply.allowed:
        return ConsentAnswer.GRANTED
    # Only consent's own "nothing recorded" (no entry in force named) is NO_RECORD: a
    # denial, an unreadable entry or a reason this version does not know stays a no.
    if reply.reason == _NO_RECORD and not reply.HasField("record"):
        return ConsentAnswer.NO_RECORD
    return ConsentAnswer.DENIED


def _check(
    customer: str, purpose: str, channel: Channel
) -> consent_service_pb2.CheckConsentRequest:
    return consent_service_pb2.CheckConsentRequest(
        customer=customer,
        purpose=purpose,
        channel=channel_pb2.Channel.Value(f"CHANNEL_{channel.value}"),
        # check_time unset: the consent in force now.
    )


# Checks asked together in one BatchCheckConsent at most (consent takes up to 1,000).
CHECK_BATCH = 500

Check = tuple[str, str, Channel]
Answer = ConsentAnswer | BaseException


class GrpcConsentClient(ConsentClient):
    """Checks asked at the same time go together: each check waits for a
    BatchCheckConsent sent after it was asked (so the answer is the consent in force
    at that moment or later, never an older one), one per workspace; a batch consent
    refuses as a whole is asked again one check at a time."""

    def __init__(self, channel: grpc.aio.Channel, *, linger: float = 0.0) -> None:
        self._stub = consent_service_pb2_grpc.ConsentServiceStub(channel)
        self._checks: GroupCommit[Check, ConsentAnswer] = GroupCommit(CHECK_BATCH, linger=linger)

    async def check(self, customer: str, purpose: str, channel: Channel) -> ConsentAnswer:
        return await self._checks.submit((customer, purpose, channel), self._check_batch)

    async def _check_one(self, customer: str, purpose: str, channel: Channel) -> ConsentAnswer:
        try:
            reply = await self._stub.CheckConsent(_check(customer, purpose, channel))
        except grpc.aio.AioRpcError as err:
            # Whatever the error, no answer means no send (yet).
            raise as_upstream_unavailable("consent", err) from None
        return _answer(reply)

    async def _check_batch(self, checks: Sequence[Check]) -> list[Answer]:
        if len(checks) == 1:
            return [await _settle(self._check_one(*checks[0]))]
        by_workspace: dict[str, list[int]] = {}
        for index, (customer, _, _) in enumerate(checks):
            try:
                workspace, _ = names.parse_customer(customer, field="customer")
            except Exception:
                workspace = ""  # asked alone below: its own error
            by_workspace.setdefault(workspace, []).append(index)
        answers: list[Answer] = [ConsentAnswer.DENIED] * len(checks)

        async def ask(workspace: str, indexes: list[int]) -> None:
            group = [checks[i] for i in indexes]
            replies = await self._batch_or_none(workspace, group)
            if replies is None:
                replies = [await _settle(self._check_one(*check)) for check in group]
            for i, reply in zip(indexes, replies, strict=True):
                answers[i] = reply

        await asyncio.gather(*(ask(w, indexes) for w, indexes in by_workspace.items()))
        return answers

    async def _batch_or_none(self, workspace: str, checks: Sequence[Check]) -> list[Answer] | None:
        """The answers of one BatchCheckConsent; None when consent refused the batch as
        a whole for what one check holds (each is then asked alone)."""
        if not workspace:
            return None
        request = consent_service_pb2.BatchCheckConsentRequest(
            parent=names.workspace_name(workspace), requests=[_check(*c) for c in checks]
        )
        try:
            reply = await self._stub.BatchCheckConsent(request)
        except grpc.aio.AioRpcError as err:
            if err.code() in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.FAILED_PRECONDITION,
            ):
                return None
            return [as_upstream_unavailable("consent", err) for _ in checks]
        if len(reply.responses) != len(checks):
            # An answer that does not fit the question is no answer: no send (yet).
            return [as_upstream_unavailable("consent", None) for _ in checks]
        return [_answer(response) for response in reply.responses]

    async def check_channels(
        self, customer: str, purpose: str, channels: Sequence[Channel]
    ) -> dict[Channel, ConsentAnswer]:
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
        return {c: _answer(r) for c, r in zip(channels, reply.responses, strict=True)}


async def _settle(asking: Awaitable[ConsentAnswer]) -> Answer:
    try:
        return await asking
    except Exception as err:
        return err
