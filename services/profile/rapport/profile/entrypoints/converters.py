"""Protobuf <-> commands and domain results of the profile service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from rapport.profile.domain import names
from rapport.profile.domain.ingestion import IngestLimits
from rapport.profile.domain.model import (
    EventType,
    Identifier,
    IncomingEvent,
    IngestStatus,
    ProfileView,
    SignalKind,
    StoredEvent,
    WatchedSignal,
)
from rapport.profile.service_layer import commands
from rapport.profile.service_layer.ingestion import EventResult
from rapport.profile.service_layer.queries import EventPage
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.type.v1 import identifier_pb2
from rapport.wellknowntypes import (
    dict_to_struct,
    python_to_value,
    serialized_size,
    to_datetime,
    to_dict,
    to_timestamp,
)

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


# -- protobuf -> commands ----------------------------------------------------------


def ingest_events_command(
    request: pb.IngestEventsRequest, limits: IngestLimits
) -> commands.IngestEvents:
    """The command; the batch and each event within the size limits first."""
    serialized_size(request, max_bytes=limits.max_batch_bytes, field_path="events")
    return commands.IngestEvents(
        parent=request.parent,
        events=tuple(
            incoming_event(event, f"events[{i}]", limits) for i, event in enumerate(request.events)
        ),
    )


def incoming_event(event: pb.Event, path: str, limits: IngestLimits) -> IncomingEvent:
    """The fields a sender may set, decoded; output-only fields are not read.

    A value protobuf holds but the profile cannot keep (NaN in a Struct, a Struct
    nested too deep, a timestamp out of range) is refused here, named by its path.
    """
    serialized_size(event, max_bytes=limits.max_event_bytes, field_path=path)
    return IncomingEvent(
        type=_EVENT_TYPES.get(event.type),
        message_id=event.message_id,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        identifiers=tuple(Identifier(i.type, i.value) for i in event.identifiers),
        event=event.event,
        original_time=to_datetime(event, "original_time", field_path=f"{path}.original_time"),
        sent_time=to_datetime(event, "sent_time", field_path=f"{path}.sent_time"),
        traits=_struct(event, "traits", path, limits),
        context=_struct(event, "context", path, limits),
        properties=_struct(event, "properties", path, limits),
        previous_id=event.previous_id,
        group_id=event.group_id,
    )


def list_events_command(request: pb.ListEventsRequest) -> commands.ListEvents:
    return commands.ListEvents(
        parent=request.parent, page_size=request.page_size, page_token=request.page_token
    )


def watch_signals_command(request: pb.WatchSignalsRequest) -> commands.WatchSignals:
    return commands.WatchSignals(
        parent=request.parent,
        start_cursor=request.start_cursor,
        kinds=tuple(_SIGNAL_KINDS.get(kind) for kind in request.kinds),
    )


def _struct(event: pb.Event, field: str, path: str, limits: IngestLimits) -> dict[str, Any] | None:
    return to_dict(event, field, field_path=f"{path}.{field}", max_depth=limits.max_struct_depth)


# -- results -> protobuf -----------------------------------------------------------


def ingest_events_response(results: Sequence[EventResult]) -> pb.IngestEventsResponse:
    return pb.IngestEventsResponse(
        results=[
            pb.EventResult(
                message_id=result.message_id,
                status=_INGEST_STATUSES[result.status],
                customer=names.customer_name(result.workspace, result.customer_id),
            )
            for result in results
        ]
    )


def event_message(event: StoredEvent) -> pb.Event:
    sent = event.sent
    message = pb.Event(
        name=names.event_name(event.workspace, event.customer_id, event.event_id),
        type=_EVENT_TYPE_VALUES[event.type],
        message_id=sent.message_id,
        user_id=sent.user_id,
        anonymous_id=sent.anonymous_id,
        identifiers=[
            identifier_pb2.Identifier(type=i.type, value=i.value) for i in sent.identifiers
        ],
        event=sent.event,
        receive_time=to_timestamp(event.receive_time),
        event_time=to_timestamp(event.event_time),
        customer=names.customer_name(event.workspace, event.customer_id),
        previous_id=sent.previous_id,
        group_id=sent.group_id,
    )
    for field, value in (
        ("properties", sent.properties),
        ("traits", sent.traits),
        ("context", sent.context),
    ):
        if value is not None:
            getattr(message, field).CopyFrom(dict_to_struct(value, field_path=field))
    if sent.original_time is not None:
        message.original_time.CopyFrom(to_timestamp(sent.original_time))
    if sent.sent_time is not None:
        message.sent_time.CopyFrom(to_timestamp(sent.sent_time))
    return message


def event_page_response(page: EventPage) -> pb.ListEventsResponse:
    """The page's events are already encoded (by ProtobufEncoder)."""
    return pb.ListEventsResponse(events=page.events, next_page_token=page.next_page_token)


def profile_message(view: ProfileView) -> pb.Profile:
    profile = pb.Profile(
        name=names.profile_name(view.workspace, view.customer_id),
        customer=names.customer_name(view.workspace, view.customer_id),
        event_count=view.event_count,
        first_seen_time=to_timestamp(view.first_seen_time),
        last_seen_time=to_timestamp(view.last_seen_time),
    )
    for key, trait in view.traits.items():
        profile.traits[key].CopyFrom(
            pb.Trait(
                value=python_to_value(trait.value),
                source_message_id=trait.source_message_id,
                update_time=to_timestamp(trait.update_time),
            )
        )
    return profile


def watch_signals_response(watched: WatchedSignal) -> pb.WatchSignalsResponse:
    signal = watched.signal
    message = pb.Signal(
        cursor=str(signal.seq),
        kind=_SIGNAL_KIND_VALUES[signal.kind],
        customer=names.customer_name(signal.workspace, signal.customer_id),
        create_time=to_timestamp(signal.create_time),
    )
    if watched.event is not None:
        message.event_seen.event.CopyFrom(event_message(watched.event))
    if (change := watched.trait_change) is not None:
        changed = message.trait_changed
        changed.key = change.key
        changed.new_value.CopyFrom(python_to_value(change.new_value))
        changed.source_message_id = change.source_message_id
        if change.had_old_value:
            changed.old_value.CopyFrom(python_to_value(change.old_value))
    return pb.WatchSignalsResponse(
        signal=message, skipped_signal_count=watched.skipped_signal_count
    )


class ProtobufEncoder:
    """The service layer's ResponseEncoder: results as this contract's messages."""

    def event(self, event: StoredEvent) -> pb.Event:
        return event_message(event)

    def event_entry_size(self, encoded: Message) -> int:
        # An entry of a repeated message field: its tag (1 byte for field 1), its
        # length as a varint (7 bits a byte), its bytes.
        size = encoded.ByteSize()
        return 1 + max(1, (size.bit_length() + 6) // 7) + size

    def watch_response(self, watched: WatchedSignal) -> pb.WatchSignalsResponse:
        return watch_signals_response(watched)

    def size(self, encoded: Message) -> int:
        return serialized_size(encoded)
