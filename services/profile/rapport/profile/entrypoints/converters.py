"""Protobuf <-> commands and domain results of the profile service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from rapport.errors import InvalidArgument
from rapport.profile.domain import names
from rapport.profile.domain.dates import value_time
from rapport.profile.domain.ingestion import IngestLimits, rejection
from rapport.profile.domain.model import (
    EventType,
    GroupView,
    Identifier,
    IncomingEvent,
    IngestStatus,
    ProfileView,
    RejectedEvent,
    RejectionReason,
    SignalKind,
    StoredEvent,
    Trait,
    TraitSource,
    WatchedSignal,
)
from rapport.profile.service_layer import commands
from rapport.profile.service_layer.groups import GroupPage, MemberPage
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
    IngestStatus.REJECTED: pb.INGEST_STATUS_REJECTED,
}


# -- protobuf -> commands ----------------------------------------------------------


def ingest_events_command(
    request: pb.IngestEventsRequest, limits: IngestLimits
) -> commands.IngestEvents:
    """The command. A batch over its size limit refuses the request; an event over its
    limit, or holding a value the profile cannot keep, comes rejected alone."""
    serialized_size(request, max_bytes=limits.max_batch_bytes, field_path="events")
    return commands.IngestEvents(
        parent=request.parent,
        events=tuple(
            _decoded(event, f"events[{i}]", limits) for i, event in enumerate(request.events)
        ),
    )


def _decoded(event: pb.Event, path: str, limits: IngestLimits) -> IncomingEvent | RejectedEvent:
    try:
        serialized_size(event, max_bytes=limits.max_event_bytes, field_path=path)
    except InvalidArgument as err:
        return RejectedEvent(event.message_id, rejection(err, RejectionReason.EVENT_TOO_LARGE))
    try:
        return incoming_event(event, path, limits)
    except InvalidArgument as err:
        return RejectedEvent(event.message_id, rejection(err, RejectionReason.INVALID_FIELD))


def incoming_event(event: pb.Event, path: str, limits: IngestLimits) -> IncomingEvent:
    """The fields a sender may set, decoded; output-only fields are not read. The
    caller has checked the event's size (serializing it again costs a microsecond).

    A value protobuf holds but the profile cannot keep (NaN in a Struct, a Struct
    nested too deep, a timestamp out of range) is refused here, named by its path.
    """
    return IncomingEvent(
        type=_EVENT_TYPES.get(event.type),
        message_id=event.message_id,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        identifiers=tuple(Identifier(i.type, i.value) for i in event.identifiers)
        if event.identifiers
        else (),
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
    # A customer's name once per answer (its events name it again).
    customers: dict[tuple[str, str], str] = {}
    return pb.IngestEventsResponse(results=[_event_result(r, customers) for r in results])


def _event_result(result: EventResult, customers: dict[tuple[str, str], str]) -> pb.EventResult:
    # Every field given to the constructor: quicker than setting each on the message.
    fields: dict[str, Any] = {
        "message_id": result.message_id,
        "status": _INGEST_STATUSES[result.status],
    }
    if (rejection := result.rejection) is not None:
        fields["rejection"] = pb.EventRejection(
            field=rejection.field, reason=rejection.reason.value, description=rejection.description
        )
    if result.customer_id:
        key = (result.workspace, result.customer_id)
        customer = customers.get(key)
        if customer is None:
            customer = customers[key] = names.customer_name(*key)
        fields["customer"] = customer
        fields["event"] = names.event_name_under(customer, result.event_id)
    if result.warnings:
        fields["warnings"] = [
            pb.EventWarning(
                field=w.field,
                reason=w.reason,
                identifier_type=w.identifier_type,
                identity_reason=w.identity_reason,
                description=w.description,
            )
            for w in result.warnings
        ]
    return pb.EventResult(**fields)


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
        profile.traits[key].CopyFrom(trait_message(trait))
    profile.groups.extend(names.group_name(view.workspace, key) for key in view.group_keys)
    profile.segments.extend(names.segment_name(view.workspace, s) for s in view.segment_ids)
    profile.life_stage = view.life_stage
    for key, value in view.computed_traits.items():
        profile.computed_traits[key].CopyFrom(python_to_value(value))
    return profile


def trait_message(trait: Trait) -> pb.Trait:
    message = pb.Trait(
        value=python_to_value(trait.value),
        source_message_id=trait.source_message_id,
        update_time=to_timestamp(trait.update_time),
        source=_source_message(trait.source),
    )
    if (moment := value_time(trait.value)) is not None:
        message.value_time.CopyFrom(to_timestamp(moment))
    return message


def _source_message(source: TraitSource) -> pb.TraitSource:
    return pb.TraitSource(
        event_type=_EVENT_TYPE_VALUES[source.event_type] if source.event_type else 0,
        library_name=source.library_name,
        library_version=source.library_version,
        method=source.method,
    )


def group_message(view: GroupView) -> pb.Group:
    group = pb.Group(
        name=names.group_name(view.workspace, view.group_key),
        group_id=view.group_id,
        member_count=view.member_count,
        create_time=to_timestamp(view.create_time),
        update_time=to_timestamp(view.update_time),
    )
    for key, trait in view.traits.items():
        group.traits[key].CopyFrom(trait_message(trait))
    return group


def list_groups_response(page: GroupPage) -> pb.ListGroupsResponse:
    return pb.ListGroupsResponse(
        groups=[group_message(view) for view in page.groups],
        next_page_token=page.next_page_token,
    )


def list_group_members_response(page: MemberPage) -> pb.ListGroupMembersResponse:
    return pb.ListGroupMembersResponse(
        members=[
            pb.GroupMember(
                customer=names.customer_name(page.workspace, member.customer_id),
                join_time=to_timestamp(member.join_time),
                source_message_id=member.source_message_id,
            )
            for member in page.members
        ],
        next_page_token=page.next_page_token,
    )


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
        if not change.removed:
            changed.new_value.CopyFrom(python_to_value(change.new_value))
        changed.source_message_id = change.source_message_id
        changed.removed = change.removed
        changed.source.CopyFrom(_source_message(change.source))
        if change.had_old_value:
            changed.old_value.CopyFrom(python_to_value(change.old_value))
    if watched.segment_id is not None:
        message.segment_membership_changed.segment = names.segment_name(
            signal.workspace, watched.segment_id
        )
    if watched.life_stage_change is not None:
        message.life_stage_changed.old_stage = watched.life_stage_change[0]
        message.life_stage_changed.new_stage = watched.life_stage_change[1]
    return pb.WatchSignalsResponse(
        signal=message, skipped_signal_count=watched.skipped_signal_count
    )


class ProtobufEncoder:
    """The service layer's ResponseEncoder: results as this contract's messages."""

    def event(self, event: StoredEvent) -> pb.Event:
        return event_message(event)

    def profile(self, view: ProfileView) -> bytes:
        return profile_message(view).SerializeToString()

    def event_entry_size(self, encoded: Message) -> int:
        # An entry of a repeated message field: its tag (1 byte for field 1), its
        # length as a varint (7 bits a byte), its bytes.
        size = encoded.ByteSize()
        return 1 + max(1, (size.bit_length() + 6) // 7) + size

    def watch_response(self, watched: WatchedSignal) -> pb.WatchSignalsResponse:
        return watch_signals_response(watched)

    def size(self, encoded: Message) -> int:
        return serialized_size(encoded)
