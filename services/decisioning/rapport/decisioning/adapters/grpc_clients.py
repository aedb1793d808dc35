"""gRPC implementations of the profile and delivery clients (consent: consent_client.py).

They implement the service layer's client ports (service_layer.dependencies)
structurally and speak the other services' v1 contracts. An answer this service
cannot convert is a definite DependencyError (UNUSABLE_ANSWER), and a signal it
cannot convert comes out unreadable: neither ever escapes as another exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import grpc
from google.protobuf import field_mask_pb2
from google.protobuf.message import DecodeError
from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Channel, Signal, TrackedEvent
from rapport.decisioning.domain.outbound import (
    UNUSABLE_ANSWER,
    CustomerProfile,
    DependencyError,
    OutboundMessage,
    ProfilePage,
    SentMessage,
)
from rapport.decisioning.domain.signals import SignalKind, TraitChange
from rapport.delivery.v1 import delivery_service_pb2, delivery_service_pb2_grpc
from rapport.errors import InvalidArgument
from rapport.groupcommit import GroupCommit
from rapport.grpcclients import error_details
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.type.v1 import channel_pb2, message_content_pb2
from rapport.wellknowntypes import dict_to_struct, struct_to_dict, value_to_python

from .profile_answer import customer_profile

MAX_PROFILE_BATCH = 1000  # BatchGetProfiles' documented limit

# A message over a size limit: grpc core says "... larger than max (N vs. M)" (either
# side's limit); the rapport runtime answers RESPONSE_TOO_LARGE for its own responses.
_OVER_LIMIT_TEXT = "larger than max"
_RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
UNREADABLE_EVENT = "UNREADABLE_EVENT"


def dependency_error(service: str, err: grpc.aio.AioRpcError) -> DependencyError:
    """What a failed call to another service means here (its code and ErrorInfo reason)."""
    code = err.code().name if err.code() is not None else "UNKNOWN"
    info, _ = error_details(err)
    reason = info.reason if info is not None else ""
    details = err.details() or ""
    if code == "RESOURCE_EXHAUSTED" and (
        reason == _RESPONSE_TOO_LARGE or _OVER_LIMIT_TEXT in details
    ):
        # Not a quota: the same message is just as large next time.
        return DependencyError(service, code, reason or MESSAGE_TOO_LARGE, details, definite=True)
    return DependencyError(service, code, reason, details)


def _unusable(service: str, err: InvalidArgument) -> DependencyError:
    # The field path goes in the details only: they are never logged.
    return DependencyError(service, UNUSABLE_ANSWER, "UNCONVERTIBLE_VALUE", err.field)


def _event_type(value: int) -> str:
    name = profile_service_pb2.EventType.Name(value) if value in _EVENT_TYPES else ""
    return name.removeprefix("EVENT_TYPE_").lower()


_EVENT_TYPES = set(profile_service_pb2.EventType.values())


def _event_time(event: profile_service_pb2.Event) -> datetime | None:
    if not event.HasField("event_time"):
        return None
    try:
        return event.event_time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def signal_from_proto(signal: profile_service_pb2.Signal, *, skipped_before: int = 0) -> Signal:
    """The signal; `unreadable` when its event holds values that cannot be converted
    (NaN, nesting too deep...), so that it is passed over instead of stopping the stream."""
    event: TrackedEvent | None = None
    unreadable = ""
    if signal.HasField("event_seen"):
        seen = signal.event_seen.event
        try:
            event = TrackedEvent(
                type=_event_type(seen.type),
                name=seen.event,
                message_id=seen.message_id,
                properties=struct_to_dict(seen.properties, field_path="event.properties"),
                context=struct_to_dict(seen.context, field_path="event.context"),
                time=_event_time(seen),
            )
        except InvalidArgument:
            unreadable = UNREADABLE_EVENT
    kind = _SIGNAL_KINDS.get(signal.kind, SignalKind.OTHER)
    trait = None
    if signal.HasField("trait_changed"):
        changed = signal.trait_changed
        try:
            value = None
            if not changed.removed and changed.HasField("new_value"):
                value = value_to_python(changed.new_value, field_path="trait_changed.new_value")
            trait = TraitChange(changed.key, value)
        except InvalidArgument:
            unreadable = UNREADABLE_EVENT
    stages = signal.life_stage_changed if signal.HasField("life_stage_changed") else None
    return Signal(
        cursor=signal.cursor,
        customer=signal.customer,
        event=event,
        unreadable=unreadable,
        skipped_before=skipped_before,
        kind=kind,
        segment=signal.segment_membership_changed.segment
        if signal.HasField("segment_membership_changed")
        else "",
        old_stage=stages.old_stage if stages is not None else "",
        new_stage=stages.new_stage if stages is not None else "",
        trait=trait,
    )


_SIGNAL_KINDS = {
    profile_service_pb2.SIGNAL_KIND_EVENT_SEEN: SignalKind.EVENT_SEEN,
    profile_service_pb2.SIGNAL_KIND_TRAIT_CHANGED: SignalKind.TRAIT_CHANGED,
    profile_service_pb2.SIGNAL_KIND_SEGMENT_ENTERED: SignalKind.SEGMENT_ENTERED,
    profile_service_pb2.SIGNAL_KIND_SEGMENT_EXITED: SignalKind.SEGMENT_EXITED,
    profile_service_pb2.SIGNAL_KIND_LIFE_STAGE_CHANGED: SignalKind.LIFE_STAGE_CHANGED,
}


def signal_from_bytes(data: bytes) -> Signal:
    """A signal relayed to JetStream by profile (a serialized rapport.profile.v1.Signal);
    one that cannot be parsed comes out unreadable (recorded and passed over)."""
    try:
        signal = profile_service_pb2.Signal.FromString(data)
    except DecodeError:
        return Signal(cursor="", customer="", event=None, unreadable=UNREADABLE_EVENT)
    return signal_from_proto(signal)


ProfileAnswer = CustomerProfile | None | BaseException


class GrpcProfileClient:
    """Profiles asked at the same time (concurrent Decides) go together: each read waits
    for a call sent after it was asked, one BatchGetProfiles per workspace for two
    customers or more (GetProfile for one). A batch profile refuses as a whole (a
    customer without profile: all or nothing) is asked again one customer at a time,
    as is every batch once profile has answered UNIMPLEMENTED (an older profile)."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = profile_service_pb2_grpc.ProfileServiceStub(channel)
        self._reads: GroupCommit[str, CustomerProfile | None] = GroupCommit(MAX_PROFILE_BATCH)
        self._batch_get = True

    async def get_profile(self, customer: str) -> CustomerProfile | None:
        try:
            names.profile_name(customer)
        except InvalidArgument as err:
            # A customer name profile itself would refuse: the same permanent failure.
            raise DependencyError("profile", "INVALID_ARGUMENT", "BAD_CUSTOMER_NAME") from err
        return await self._reads.submit(customer, self._read_many)

    async def _read_many(self, customers: Sequence[str]) -> list[ProfileAnswer]:
        by_workspace: dict[str, list[str]] = {}
        for customer in dict.fromkeys(customers):  # each customer asked once
            workspace = names.parse_customer(customer, "customer").workspace
            by_workspace.setdefault(workspace, []).append(customer)
        answers: dict[str, ProfileAnswer] = {}
        for workspace, group in by_workspace.items():
            answers.update(await self._read_workspace(workspace, group))
        return [answers[customer] for customer in customers]

    async def _read_workspace(
        self, workspace: str, customers: list[str]
    ) -> dict[str, ProfileAnswer]:
        if len(customers) > 1 and self._batch_get:
            request = profile_service_pb2.BatchGetProfilesRequest(
                parent=names.workspace_name(workspace),
                names=[names.profile_name(c) for c in customers],
            )
            try:
                response = await self._stub.BatchGetProfiles(request)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                    self._batch_get = False
                elif err.code() != grpc.StatusCode.NOT_FOUND:
                    failure = dependency_error("profile", err)
                    if not failure.definite:
                        return dict.fromkeys(customers, failure)
            else:
                if len(response.profiles) == len(customers):
                    return {
                        c: _converted(c, p)
                        for c, p in zip(customers, response.profiles, strict=True)
                    }
        # One at a time: a customer without profile (or a refusal) fails alone.
        found = await asyncio.gather(*(self._read_one(c) for c in customers))
        return dict(zip(customers, found, strict=True))

    async def _read_one(self, customer: str) -> ProfileAnswer:
        request = profile_service_pb2.GetProfileRequest(name=names.profile_name(customer))
        try:
            profile = await self._stub.GetProfile(request)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            return dependency_error("profile", err)
        return _converted(customer, profile)

    async def segment_members(self, segment: str, limit: int) -> list[str]:
        """The first `limit` members of a segment, in customer order; NOT_FOUND as a
        definite DependencyError."""
        customers: list[str] = []
        token = ""
        while len(customers) < limit:
            try:
                response = await self._stub.ListSegmentMembers(
                    profile_service_pb2.ListSegmentMembersRequest(
                        segment=segment,
                        page_size=min(1000, limit - len(customers)),
                        page_token=token,
                    )
                )
            except grpc.aio.AioRpcError as err:
                raise dependency_error("profile", err) from err
            customers.extend(m.customer for m in response.members)
            token = response.next_page_token
            if not token:
                break
        return customers[:limit]

    async def list_profiles(
        self,
        workspace: str,
        has_trait: str,
        trait_keys: Sequence[str],
        page_token: str,
        page_size: int,
    ) -> ProfilePage:
        """ListProfiles: the profiles holding ``has_trait``, with only ``trait_keys``; a
        DependencyError when profile cannot answer or a profile cannot be converted."""
        request = profile_service_pb2.ListProfilesRequest(
            parent=f"{names.workspace_name(workspace)}/customers/-",
            page_size=page_size,
            page_token=page_token,
            has_trait=has_trait,
            read_mask=field_mask_pb2.FieldMask(paths=[f"traits.{key}" for key in trait_keys]),
        )
        try:
            response = await self._stub.ListProfiles(request)
        except grpc.aio.AioRpcError as err:
            raise dependency_error("profile", err) from err
        profiles = []
        for profile in response.profiles:
            converted = _converted(profile.customer, profile)
            if isinstance(converted, BaseException):
                raise converted
            profiles.append(converted)
        return ProfilePage(profiles, response.next_page_token)

    async def segment_exists(self, segment: str) -> bool:
        """GetSegment: False on NOT_FOUND, a DependencyError for any other failure."""
        try:
            await self._stub.GetSegment(profile_service_pb2.GetSegmentRequest(name=segment))
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise dependency_error("profile", err) from err
        return True

    async def watch_signals(self, workspace: str, start_cursor: str) -> AsyncIterator[Signal]:
        call = self._stub.WatchSignals(
            profile_service_pb2.WatchSignalsRequest(
                parent=names.workspace_name(workspace),
                start_cursor=start_cursor,
                kinds=list(_SIGNAL_KINDS),
            )
        )
        skipped = 0
        try:
            async for response in call:
                skipped += max(response.skipped_signal_count, 0)
                if not response.signal.cursor:
                    continue  # no position in the log: nothing to act on or resume after
                yield signal_from_proto(response.signal, skipped_before=skipped)
                skipped = 0
        except grpc.aio.AioRpcError as err:
            raise dependency_error("profile", err) from err
        finally:
            call.cancel()


def _sent_channel(value: int) -> Channel | None:
    if value == channel_pb2.CHANNEL_UNSPECIFIED or value not in channel_pb2.Channel.values():
        return None
    return Channel.__members__.get(channel_pb2.Channel.Name(value).removeprefix("CHANNEL_"))


def channel_to_proto(channel: Channel) -> int:
    """The rapport.type.v1.Channel value of a channel (same names, CHANNEL_ prefix)."""
    return channel_pb2.Channel.Value(f"CHANNEL_{channel.name}")


def _converted(customer: str, profile: profile_service_pb2.Profile) -> ProfileAnswer:
    try:
        return customer_profile(customer, profile)
    except InvalidArgument as err:
        return _unusable("profile", err)


class GrpcDeliveryClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = delivery_service_pb2_grpc.DeliveryServiceStub(channel)

    async def send(self, message: OutboundMessage) -> SentMessage:
        try:
            data = dict_to_struct(message.data, field_path="data")
        except InvalidArgument as err:
            # E.g. event properties nested as deep as allowed, one level down in `data`.
            raise DependencyError(
                "delivery", "INVALID_ARGUMENT", "UNSENDABLE_DATA", err.field
            ) from err
        request = delivery_service_pb2.SendMessageRequest(
            parent=names.workspace_name(message.workspace),
            idempotency_key=message.idempotency_key,
            customer=message.customer,
            purpose=message.purpose,
            # With best_channel, delivery picks the channel: `channel` stays unspecified.
            channel=0 if message.best_channel else channel_to_proto(message.channel),
            best_channel=message.best_channel,
            candidate_channels=[channel_to_proto(c) for c in message.candidate_channels],
            content=message_content_pb2.MessageContent(
                subject=message.content.subject,
                text_body=message.content.text_body,
                html_body=message.content.html_body,
            ),
            data=data,
            source=message.source,
        )
        try:
            sent = await self._stub.SendMessage(request)
        except grpc.aio.AioRpcError as err:
            raise dependency_error("delivery", err) from err
        return SentMessage(
            name=sent.name,
            state=delivery_service_pb2.MessageState.Name(sent.state).removeprefix("MESSAGE_STATE_")
            if sent.state in delivery_service_pb2.MessageState.values()
            else str(sent.state),
            channel=_sent_channel(sent.channel),
        )
