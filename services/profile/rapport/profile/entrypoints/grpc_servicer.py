"""gRPC servicer: protobuf <-> commands and domain results, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from rapport.errors import InvalidArgument
from rapport.profile.domain.model import (
    EventType,
    Identifier,
    IncomingEvent,
    IngestStatus,
    ProfileView,
    Signal,
    SignalKind,
    StoredEvent,
)
from rapport.profile.domain.signals import event_from_payload
from rapport.profile.service_layer import commands, handlers
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc

_EVENT_TYPES = {
    pb.EVENT_TYPE_IDENTIFY: EventType.IDENTIFY,
    pb.EVENT_TYPE_TRACK: EventType.TRACK,
    pb.EVENT_TYPE_PAGE: EventType.PAGE,
    pb.EVENT_TYPE_SCREEN: EventType.SCREEN,
    pb.EVENT_TYPE_GROUP: EventType.GROUP,
    pb.EVENT_TYPE_ALIAS: EventType.ALIAS,
}
_EVENT_TYPE_VALUES = {kind: value for value, kind in _EVENT_TYPES.items()}

_SIGNAL_KINDS = {
    pb.SIGNAL_KIND_EVENT_SEEN: SignalKind.EVENT_SEEN,
    pb.SIGNAL_KIND_TRAIT_CHANGED: SignalKind.TRAIT_CHANGED,
    pb.SIGNAL_KIND_SEGMENT_ENTERED: SignalKind.SEGMENT_ENTERED,
    pb.SIGNAL_KIND_SEGMENT_EXITED: SignalKind.SEGMENT_EXITED,
    pb.SIGNAL_KIND_LIFE_STAGE_CHANGED: SignalKind.LIFE_STAGE_CHANGED,
}
_SIGNAL_KIND_VALUES = {kind: value for value, kind in _SIGNAL_KINDS.items()}

_INGEST_STATUSES = {
    IngestStatus.ACCEPTED: pb.INGEST_STATUS_ACCEPTED,
    IngestStatus.DUPLICATE: pb.INGEST_STATUS_DUPLICATE,
}

# Output-only fields: whatever a sender puts there is not kept.
_OUTPUT_ONLY = ("name", "received_at", "timestamp", "customer")


class ProfileServicer(profile_service_pb2_grpc.ProfileServiceServicer):
    def __init__(self, deps: handlers.Dependencies) -> None:
        self._deps = deps

    async def IngestEvents(
        self, request: pb.IngestEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.IngestEventsResponse:
        events = [_incoming_event(event, f"events[{i}]") for i, event in enumerate(request.events)]
        results = await handlers.ingest_events(
            commands.IngestEvents(parent=request.parent, events=events), self._deps
        )
        return pb.IngestEventsResponse(
            results=[
                pb.EventResult(
                    message_id=result.message_id,
                    status=_INGEST_STATUSES[result.status],
                    customer=_customer_name(result.workspace, result.customer_id),
                )
                for result in results
            ]
        )

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.Profile:
        view = await handlers.get_profile(commands.GetProfile(name=request.name), self._deps)
        return _profile(view)

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        page = await handlers.list_events(
            commands.ListEvents(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
            self._deps,
        )
        return pb.ListEventsResponse(
            events=[_event(event) for event in page.events],
            next_page_token=page.next_page_token,
        )

    async def WatchSignals(
        self, request: pb.WatchSignalsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchSignalsResponse]:
        command = commands.WatchSignals(
            parent=request.parent,
            start_cursor=request.start_cursor,
            kinds=[_SIGNAL_KINDS.get(kind) for kind in request.kinds],
        )
        signals = await handlers.watch_signals(command, self._deps)
        async for signal in signals:
            yield pb.WatchSignalsResponse(signal=_signal(signal))


# -- protobuf -> domain ------------------------------------------------------------


def _incoming_event(event: pb.Event, path: str) -> IncomingEvent:
    # Fields first, so that a conversion problem is named by its own field.
    original_timestamp = _time(event, "original_timestamp", path)
    sent_at = _time(event, "sent_at", path)
    traits = _struct(event, "traits", path)
    context = _struct(event, "context", path)
    _struct(event, "properties", path)
    document = _to_dict(event, path)
    for output_only in _OUTPUT_ONLY:
        document.pop(output_only, None)
    return IncomingEvent(
        type=_EVENT_TYPES.get(event.type),
        message_id=event.message_id,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        identifiers=tuple(Identifier(i.type, i.value) for i in event.identifiers),
        event=event.event,
        traits=traits,
        context=context,
        previous_id=event.previous_id,
        group_id=event.group_id,
        original_timestamp=original_timestamp,
        sent_at=sent_at,
        document=document,
    )


def _struct(event: pb.Event, field: str, path: str) -> dict[str, Any] | None:
    if not event.HasField(field):
        return None
    return _to_dict(getattr(event, field), f"{path}.{field}")


def _to_dict(message: Any, field: str) -> dict[str, Any]:
    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)
    except (ValueError, TypeError, OverflowError) as err:
        # e.g. NaN or Infinity in a Struct, a Timestamp out of range: not JSON.
        raise InvalidArgument(field, f"cannot be represented as JSON ({err})") from None


def _time(event: pb.Event, field: str, path: str) -> datetime | None:
    if not event.HasField(field):
        return None
    try:
        return getattr(event, field).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{path}.{field}", "is not a valid timestamp") from None


# -- domain -> protobuf ------------------------------------------------------------


def _customer_name(workspace: str, customer_id: str) -> str:
    return f"workspaces/{workspace}/customers/{customer_id}"


def _timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _value(value: Any) -> struct_pb2.Value:
    message = struct_pb2.Value()
    json_format.ParseDict(value, message)
    return message


def _event(event: StoredEvent) -> pb.Event:
    message = pb.Event()
    json_format.ParseDict(event.document, message, ignore_unknown_fields=True)
    customer = _customer_name(event.workspace, event.customer_id)
    message.name = f"{customer}/events/{event.event_id}"
    message.customer = customer
    message.type = _EVENT_TYPE_VALUES[event.type]
    message.received_at.CopyFrom(_timestamp(event.received_at))
    message.timestamp.CopyFrom(_timestamp(event.timestamp))
    return message


def _profile(view: ProfileView) -> pb.Profile:
    customer = _customer_name(view.workspace, view.customer_id)
    profile = pb.Profile(
        name=f"{customer}/profile",
        customer=customer,
        event_count=view.event_count,
        first_seen_time=_timestamp(view.first_seen_time),
        last_seen_time=_timestamp(view.last_seen_time),
    )
    for key, trait in view.traits.items():
        profile.traits[key].CopyFrom(
            pb.Trait(
                value=_value(trait.value),
                source_message_id=trait.source_message_id,
                update_time=_timestamp(trait.update_time),
            )
        )
    return profile


def _signal(signal: Signal) -> pb.Signal:
    message = pb.Signal(
        cursor=str(signal.seq),
        kind=_SIGNAL_KIND_VALUES[signal.kind],
        customer=_customer_name(signal.workspace, signal.customer_id),
        create_time=_timestamp(signal.create_time),
    )
    payload = signal.payload
    if signal.kind is SignalKind.EVENT_SEEN:
        event = event_from_payload(payload, signal.workspace, signal.customer_id)
        message.event_seen.event.CopyFrom(_event(event))
    elif signal.kind is SignalKind.TRAIT_CHANGED:
        changed = message.trait_changed
        changed.key = payload["key"]
        changed.new_value.CopyFrom(_value(payload["new_value"]))
        changed.source_message_id = payload["source_message_id"]
        if "old_value" in payload:
            changed.old_value.CopyFrom(_value(payload["old_value"]))
    return message
