import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rapport.type.v1 import identifier_pb2 as _identifier_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_IDENTIFY: _ClassVar[EventType]
    EVENT_TYPE_TRACK: _ClassVar[EventType]
    EVENT_TYPE_PAGE: _ClassVar[EventType]
    EVENT_TYPE_SCREEN: _ClassVar[EventType]
    EVENT_TYPE_GROUP: _ClassVar[EventType]
    EVENT_TYPE_ALIAS: _ClassVar[EventType]

class IngestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_STATUS_UNSPECIFIED: _ClassVar[IngestStatus]
    INGEST_STATUS_ACCEPTED: _ClassVar[IngestStatus]
    INGEST_STATUS_DUPLICATE: _ClassVar[IngestStatus]
    INGEST_STATUS_REJECTED: _ClassVar[IngestStatus]

class SignalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNAL_KIND_UNSPECIFIED: _ClassVar[SignalKind]
    SIGNAL_KIND_EVENT_SEEN: _ClassVar[SignalKind]
    SIGNAL_KIND_TRAIT_CHANGED: _ClassVar[SignalKind]
    SIGNAL_KIND_SEGMENT_ENTERED: _ClassVar[SignalKind]
    SIGNAL_KIND_SEGMENT_EXITED: _ClassVar[SignalKind]
    SIGNAL_KIND_LIFE_STAGE_CHANGED: _ClassVar[SignalKind]

class InactivityAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INACTIVITY_ACTION_UNSPECIFIED: _ClassVar[InactivityAction]
    INACTIVITY_ACTION_REPORT: _ClassVar[InactivityAction]
    INACTIVITY_ACTION_DELETE: _ClassVar[InactivityAction]

class TrackingPlanEnforcement(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACKING_PLAN_ENFORCEMENT_UNSPECIFIED: _ClassVar[TrackingPlanEnforcement]
    TRACKING_PLAN_ENFORCEMENT_FLAG: _ClassVar[TrackingPlanEnforcement]
    TRACKING_PLAN_ENFORCEMENT_BLOCK: _ClassVar[TrackingPlanEnforcement]

class ViolationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIOLATION_KIND_UNSPECIFIED: _ClassVar[ViolationKind]
    VIOLATION_KIND_UNPLANNED_EVENT: _ClassVar[ViolationKind]
    VIOLATION_KIND_MISSING_REQUIRED_PROPERTY: _ClassVar[ViolationKind]
    VIOLATION_KIND_WRONG_TYPE: _ClassVar[ViolationKind]
    VIOLATION_KIND_ADDITIONAL_PROPERTY: _ClassVar[ViolationKind]
    VIOLATION_KIND_INVALID_VALUE: _ClassVar[ViolationKind]

class ComputedTraitKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPUTED_TRAIT_KIND_UNSPECIFIED: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_COUNT: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_SUM: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_AVERAGE: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_MIN: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_MAX: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_MOST_FREQUENT: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_FIRST: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_LAST: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_UNIQUE_LIST: _ClassVar[ComputedTraitKind]
    COMPUTED_TRAIT_KIND_UNIQUE_COUNT: _ClassVar[ComputedTraitKind]

class BackfillJobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKFILL_JOB_STATE_UNSPECIFIED: _ClassVar[BackfillJobState]
    BACKFILL_JOB_STATE_PENDING: _ClassVar[BackfillJobState]
    BACKFILL_JOB_STATE_RUNNING: _ClassVar[BackfillJobState]
    BACKFILL_JOB_STATE_SUCCEEDED: _ClassVar[BackfillJobState]
    BACKFILL_JOB_STATE_CANCELLED: _ClassVar[BackfillJobState]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_IDENTIFY: EventType
EVENT_TYPE_TRACK: EventType
EVENT_TYPE_PAGE: EventType
EVENT_TYPE_SCREEN: EventType
EVENT_TYPE_GROUP: EventType
EVENT_TYPE_ALIAS: EventType
INGEST_STATUS_UNSPECIFIED: IngestStatus
INGEST_STATUS_ACCEPTED: IngestStatus
INGEST_STATUS_DUPLICATE: IngestStatus
INGEST_STATUS_REJECTED: IngestStatus
SIGNAL_KIND_UNSPECIFIED: SignalKind
SIGNAL_KIND_EVENT_SEEN: SignalKind
SIGNAL_KIND_TRAIT_CHANGED: SignalKind
SIGNAL_KIND_SEGMENT_ENTERED: SignalKind
SIGNAL_KIND_SEGMENT_EXITED: SignalKind
SIGNAL_KIND_LIFE_STAGE_CHANGED: SignalKind
INACTIVITY_ACTION_UNSPECIFIED: InactivityAction
INACTIVITY_ACTION_REPORT: InactivityAction
INACTIVITY_ACTION_DELETE: InactivityAction
TRACKING_PLAN_ENFORCEMENT_UNSPECIFIED: TrackingPlanEnforcement
TRACKING_PLAN_ENFORCEMENT_FLAG: TrackingPlanEnforcement
TRACKING_PLAN_ENFORCEMENT_BLOCK: TrackingPlanEnforcement
VIOLATION_KIND_UNSPECIFIED: ViolationKind
VIOLATION_KIND_UNPLANNED_EVENT: ViolationKind
VIOLATION_KIND_MISSING_REQUIRED_PROPERTY: ViolationKind
VIOLATION_KIND_WRONG_TYPE: ViolationKind
VIOLATION_KIND_ADDITIONAL_PROPERTY: ViolationKind
VIOLATION_KIND_INVALID_VALUE: ViolationKind
COMPUTED_TRAIT_KIND_UNSPECIFIED: ComputedTraitKind
COMPUTED_TRAIT_KIND_COUNT: ComputedTraitKind
COMPUTED_TRAIT_KIND_SUM: ComputedTraitKind
COMPUTED_TRAIT_KIND_AVERAGE: ComputedTraitKind
COMPUTED_TRAIT_KIND_MIN: ComputedTraitKind
COMPUTED_TRAIT_KIND_MAX: ComputedTraitKind
COMPUTED_TRAIT_KIND_MOST_FREQUENT: ComputedTraitKind
COMPUTED_TRAIT_KIND_FIRST: ComputedTraitKind
COMPUTED_TRAIT_KIND_LAST: ComputedTraitKind
COMPUTED_TRAIT_KIND_UNIQUE_LIST: ComputedTraitKind
COMPUTED_TRAIT_KIND_UNIQUE_COUNT: ComputedTraitKind
BACKFILL_JOB_STATE_UNSPECIFIED: BackfillJobState
BACKFILL_JOB_STATE_PENDING: BackfillJobState
BACKFILL_JOB_STATE_RUNNING: BackfillJobState
BACKFILL_JOB_STATE_SUCCEEDED: BackfillJobState
BACKFILL_JOB_STATE_CANCELLED: BackfillJobState

class Event(_message.Message):
    __slots__ = ("name", "type", "message_id", "user_id", "anonymous_id", "identifiers", "event", "properties", "traits", "context", "original_time", "sent_time", "receive_time", "event_time", "customer", "previous_id", "group_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TIME_FIELD_NUMBER: _ClassVar[int]
    SENT_TIME_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: EventType
    message_id: str
    user_id: str
    anonymous_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_identifier_pb2.Identifier]
    event: str
    properties: _struct_pb2.Struct
    traits: _struct_pb2.Struct
    context: _struct_pb2.Struct
    original_time: _timestamp_pb2.Timestamp
    sent_time: _timestamp_pb2.Timestamp
    receive_time: _timestamp_pb2.Timestamp
    event_time: _timestamp_pb2.Timestamp
    customer: str
    previous_id: str
    group_id: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[EventType, str]] = ..., message_id: _Optional[str] = ..., user_id: _Optional[str] = ..., anonymous_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_identifier_pb2.Identifier, _Mapping]]] = ..., event: _Optional[str] = ..., properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., traits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., original_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer: _Optional[str] = ..., previous_id: _Optional[str] = ..., group_id: _Optional[str] = ...) -> None: ...

class IngestEventsRequest(_message.Message):
    __slots__ = ("parent", "events")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, parent: _Optional[str] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class EventRejection(_message.Message):
    __slots__ = ("field", "reason", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    reason: str
    description: str
    def __init__(self, field: _Optional[str] = ..., reason: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class EventResult(_message.Message):
    __slots__ = ("message_id", "status", "customer", "rejection", "event", "warnings")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    status: IngestStatus
    customer: str
    rejection: EventRejection
    event: str
    warnings: _containers.RepeatedCompositeFieldContainer[EventWarning]
    def __init__(self, message_id: _Optional[str] = ..., status: _Optional[_Union[IngestStatus, str]] = ..., customer: _Optional[str] = ..., rejection: _Optional[_Union[EventRejection, _Mapping]] = ..., event: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[EventWarning, _Mapping]]] = ...) -> None: ...

class EventWarning(_message.Message):
    __slots__ = ("field", "reason", "identifier_type", "identity_reason", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_TYPE_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_REASON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    reason: str
    identifier_type: str
    identity_reason: str
    description: str
    def __init__(self, field: _Optional[str] = ..., reason: _Optional[str] = ..., identifier_type: _Optional[str] = ..., identity_reason: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class IngestEventsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    def __init__(self, results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ...) -> None: ...

class TraitSource(_message.Message):
    __slots__ = ("event_type", "library_name", "library_version", "method")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    LIBRARY_NAME_FIELD_NUMBER: _ClassVar[int]
    LIBRARY_VERSION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    library_name: str
    library_version: str
    method: str
    def __init__(self, event_type: _Optional[_Union[EventType, str]] = ..., library_name: _Optional[str] = ..., library_version: _Optional[str] = ..., method: _Optional[str] = ...) -> None: ...

class Trait(_message.Message):
    __slots__ = ("value", "source_message_id", "update_time", "source", "value_time")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VALUE_TIME_FIELD_NUMBER: _ClassVar[int]
    value: _struct_pb2.Value
    source_message_id: str
    update_time: _timestamp_pb2.Timestamp
    source: TraitSource
    value_time: _timestamp_pb2.Timestamp
    def __init__(self, value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., source_message_id: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[TraitSource, _Mapping]] = ..., value_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("name", "customer", "traits", "event_count", "first_seen_time", "last_seen_time", "groups", "segments", "life_stage", "computed_traits")
    class TraitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Trait
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Trait, _Mapping]] = ...) -> None: ...
    class ComputedTraitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    LIFE_STAGE_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_TRAITS_FIELD_NUMBER: _ClassVar[int]
    name: str
    customer: str
    traits: _containers.MessageMap[str, Trait]
    event_count: int
    first_seen_time: _timestamp_pb2.Timestamp
    last_seen_time: _timestamp_pb2.Timestamp
    groups: _containers.RepeatedScalarFieldContainer[str]
    segments: _containers.RepeatedScalarFieldContainer[str]
    life_stage: str
    computed_traits: _containers.MessageMap[str, _struct_pb2.Value]
    def __init__(self, name: _Optional[str] = ..., customer: _Optional[str] = ..., traits: _Optional[_Mapping[str, Trait]] = ..., event_count: _Optional[int] = ..., first_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., groups: _Optional[_Iterable[str]] = ..., segments: _Optional[_Iterable[str]] = ..., life_stage: _Optional[str] = ..., computed_traits: _Optional[_Mapping[str, _struct_pb2.Value]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("name", "group_id", "traits", "member_count", "create_time", "update_time")
    class TraitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Trait
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Trait, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    group_id: str
    traits: _containers.MessageMap[str, Trait]
    member_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., group_id: _Optional[str] = ..., traits: _Optional[_Mapping[str, Trait]] = ..., member_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GroupMember(_message.Message):
    __slots__ = ("customer", "join_time", "source_message_id")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    JOIN_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    customer: str
    join_time: _timestamp_pb2.Timestamp
    source_message_id: str
    def __init__(self, customer: _Optional[str] = ..., join_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source_message_id: _Optional[str] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class BatchGetProfilesRequest(_message.Message):
    __slots__ = ("parent", "names")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    parent: str
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, parent: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetProfilesResponse(_message.Message):
    __slots__ = ("profiles",)
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[Profile]
    def __init__(self, profiles: _Optional[_Iterable[_Union[Profile, _Mapping]]] = ...) -> None: ...

class ListProfilesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "has_trait", "read_mask")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HAS_TRAIT_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    has_trait: str
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., has_trait: _Optional[str] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ListProfilesResponse(_message.Message):
    __slots__ = ("profiles", "next_page_token")
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[Profile]
    next_page_token: str
    def __init__(self, profiles: _Optional[_Iterable[_Union[Profile, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RemoveTraitsRequest(_message.Message):
    __slots__ = ("name", "keys")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ...) -> None: ...

class GetGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups", "next_page_token")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    next_page_token: str
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListGroupMembersRequest(_message.Message):
    __slots__ = ("group", "page_size", "page_token")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    group: str
    page_size: int
    page_token: str
    def __init__(self, group: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGroupMembersResponse(_message.Message):
    __slots__ = ("members", "next_page_token")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[GroupMember]
    next_page_token: str
    def __init__(self, members: _Optional[_Iterable[_Union[GroupMember, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetEventRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class EventSeen(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: Event
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class TraitChanged(_message.Message):
    __slots__ = ("key", "old_value", "new_value", "source_message_id", "removed", "source")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    key: str
    old_value: _struct_pb2.Value
    new_value: _struct_pb2.Value
    source_message_id: str
    removed: bool
    source: TraitSource
    def __init__(self, key: _Optional[str] = ..., old_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., new_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., source_message_id: _Optional[str] = ..., removed: _Optional[bool] = ..., source: _Optional[_Union[TraitSource, _Mapping]] = ...) -> None: ...

class Signal(_message.Message):
    __slots__ = ("cursor", "kind", "customer", "create_time", "event_seen", "trait_changed", "segment_membership_changed", "life_stage_changed")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_SEEN_FIELD_NUMBER: _ClassVar[int]
    TRAIT_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_MEMBERSHIP_CHANGED_FIELD_NUMBER: _ClassVar[int]
    LIFE_STAGE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    kind: SignalKind
    customer: str
    create_time: _timestamp_pb2.Timestamp
    event_seen: EventSeen
    trait_changed: TraitChanged
    segment_membership_changed: SegmentMembershipChanged
    life_stage_changed: LifeStageChanged
    def __init__(self, cursor: _Optional[str] = ..., kind: _Optional[_Union[SignalKind, str]] = ..., customer: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_seen: _Optional[_Union[EventSeen, _Mapping]] = ..., trait_changed: _Optional[_Union[TraitChanged, _Mapping]] = ..., segment_membership_changed: _Optional[_Union[SegmentMembershipChanged, _Mapping]] = ..., life_stage_changed: _Optional[_Union[LifeStageChanged, _Mapping]] = ...) -> None: ...

class WatchSignalsRequest(_message.Message):
    __slots__ = ("parent", "start_cursor", "kinds")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    START_CURSOR_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    start_cursor: str
    kinds: _containers.RepeatedScalarFieldContainer[SignalKind]
    def __init__(self, parent: _Optional[str] = ..., start_cursor: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[SignalKind, str]]] = ...) -> None: ...

class WatchSignalsResponse(_message.Message):
    __slots__ = ("signal", "skipped_signal_count")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_SIGNAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    signal: Signal
    skipped_signal_count: int
    def __init__(self, signal: _Optional[_Union[Signal, _Mapping]] = ..., skipped_signal_count: _Optional[int] = ...) -> None: ...

class ExportProfileRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ExportProfileResponse(_message.Message):
    __slots__ = ("name", "data_json", "export_time", "next_page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    EXPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    data_json: str
    export_time: _timestamp_pb2.Timestamp
    next_page_token: str
    def __init__(self, name: _Optional[str] = ..., data_json: _Optional[str] = ..., export_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class EraseProfileRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EraseProfileResponse(_message.Message):
    __slots__ = ("name", "erased_event_count", "erased_trait_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ERASED_EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERASED_TRAIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    erased_event_count: int
    erased_trait_count: int
    def __init__(self, name: _Optional[str] = ..., erased_event_count: _Optional[int] = ..., erased_trait_count: _Optional[int] = ...) -> None: ...

class InactivityRule(_message.Message):
    __slots__ = ("event_name", "inactive_days", "action")
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    INACTIVE_DAYS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    event_name: str
    inactive_days: int
    action: InactivityAction
    def __init__(self, event_name: _Optional[str] = ..., inactive_days: _Optional[int] = ..., action: _Optional[_Union[InactivityAction, str]] = ...) -> None: ...

class DataHygienePolicy(_message.Message):
    __slots__ = ("name", "default_retention_days", "event_retention_days", "inactivity", "update_time")
    class EventRetentionDaysEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    EVENT_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    INACTIVITY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    default_retention_days: int
    event_retention_days: _containers.ScalarMap[str, int]
    inactivity: InactivityRule
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., default_retention_days: _Optional[int] = ..., event_retention_days: _Optional[_Mapping[str, int]] = ..., inactivity: _Optional[_Union[InactivityRule, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetDataHygienePolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateDataHygienePolicyRequest(_message.Message):
    __slots__ = ("data_hygiene_policy", "update_mask")
    DATA_HYGIENE_POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    data_hygiene_policy: DataHygienePolicy
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, data_hygiene_policy: _Optional[_Union[DataHygienePolicy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ListInactiveProfilesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class InactiveProfile(_message.Message):
    __slots__ = ("name", "last_activity_time", "last_seen_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    last_activity_time: _timestamp_pb2.Timestamp
    last_seen_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., last_activity_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListInactiveProfilesResponse(_message.Message):
    __slots__ = ("inactive_profiles", "next_page_token")
    INACTIVE_PROFILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    inactive_profiles: _containers.RepeatedCompositeFieldContainer[InactiveProfile]
    next_page_token: str
    def __init__(self, inactive_profiles: _Optional[_Iterable[_Union[InactiveProfile, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SegmentMembershipChanged(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: str
    def __init__(self, segment: _Optional[str] = ...) -> None: ...

class LifeStageChanged(_message.Message):
    __slots__ = ("old_stage", "new_stage")
    OLD_STAGE_FIELD_NUMBER: _ClassVar[int]
    NEW_STAGE_FIELD_NUMBER: _ClassVar[int]
    old_stage: str
    new_stage: str
    def __init__(self, old_stage: _Optional[str] = ..., new_stage: _Optional[str] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("name", "display_name", "rule", "time_dependent", "member_count", "create_time", "last_evaluation_time", "next_evaluation_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    TIME_DEPENDENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_EVALUATION_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_EVALUATION_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    rule: str
    time_dependent: bool
    member_count: int
    create_time: _timestamp_pb2.Timestamp
    last_evaluation_time: _timestamp_pb2.Timestamp
    next_evaluation_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., rule: _Optional[str] = ..., time_dependent: _Optional[bool] = ..., member_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_evaluation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_evaluation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSegmentRequest(_message.Message):
    __slots__ = ("parent", "segment", "segment_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    segment: Segment
    segment_id: str
    def __init__(self, parent: _Optional[str] = ..., segment: _Optional[_Union[Segment, _Mapping]] = ..., segment_id: _Optional[str] = ...) -> None: ...

class GetSegmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments", "next_page_token")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    next_page_token: str
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateSegmentRequest(_message.Message):
    __slots__ = ("segment", "update_mask")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteSegmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListSegmentMembersRequest(_message.Message):
    __slots__ = ("segment", "page_size", "page_token")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segment: str
    page_size: int
    page_token: str
    def __init__(self, segment: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SegmentMember(_message.Message):
    __slots__ = ("customer", "enter_time")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    ENTER_TIME_FIELD_NUMBER: _ClassVar[int]
    customer: str
    enter_time: _timestamp_pb2.Timestamp
    def __init__(self, customer: _Optional[str] = ..., enter_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSegmentMembersResponse(_message.Message):
    __slots__ = ("members", "next_page_token")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[SegmentMember]
    next_page_token: str
    def __init__(self, members: _Optional[_Iterable[_Union[SegmentMember, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PreviewSegmentRequest(_message.Message):
    __slots__ = ("parent", "rule", "sample_size")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    rule: str
    sample_size: int
    def __init__(self, parent: _Optional[str] = ..., rule: _Optional[str] = ..., sample_size: _Optional[int] = ...) -> None: ...

class PreviewSegmentResponse(_message.Message):
    __slots__ = ("member_count", "evaluated_count", "sample_customers")
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    member_count: int
    evaluated_count: int
    sample_customers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, member_count: _Optional[int] = ..., evaluated_count: _Optional[int] = ..., sample_customers: _Optional[_Iterable[str]] = ...) -> None: ...

class LifeStage(_message.Message):
    __slots__ = ("stage", "rule")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    stage: str
    rule: str
    def __init__(self, stage: _Optional[str] = ..., rule: _Optional[str] = ...) -> None: ...

class LifeStageModel(_message.Message):
    __slots__ = ("name", "stages", "update_time", "last_evaluation_time", "next_evaluation_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_EVALUATION_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_EVALUATION_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    stages: _containers.RepeatedCompositeFieldContainer[LifeStage]
    update_time: _timestamp_pb2.Timestamp
    last_evaluation_time: _timestamp_pb2.Timestamp
    next_evaluation_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[LifeStage, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_evaluation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_evaluation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetLifeStageModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateLifeStageModelRequest(_message.Message):
    __slots__ = ("life_stage_model", "update_mask")
    LIFE_STAGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    life_stage_model: LifeStageModel
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, life_stage_model: _Optional[_Union[LifeStageModel, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class TrackingPlan(_message.Message):
    __slots__ = ("name", "display_name", "enforcement", "event_schemas", "identify_schema", "revision_id", "create_time", "update_time")
    class EventSchemasEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    IDENTIFY_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    REVISION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    enforcement: TrackingPlanEnforcement
    event_schemas: _containers.MessageMap[str, _struct_pb2.Struct]
    identify_schema: _struct_pb2.Struct
    revision_id: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., enforcement: _Optional[_Union[TrackingPlanEnforcement, str]] = ..., event_schemas: _Optional[_Mapping[str, _struct_pb2.Struct]] = ..., identify_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., revision_id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTrackingPlanRequest(_message.Message):
    __slots__ = ("parent", "tracking_plan", "tracking_plan_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    TRACKING_PLAN_FIELD_NUMBER: _ClassVar[int]
    TRACKING_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    tracking_plan: TrackingPlan
    tracking_plan_id: str
    def __init__(self, parent: _Optional[str] = ..., tracking_plan: _Optional[_Union[TrackingPlan, _Mapping]] = ..., tracking_plan_id: _Optional[str] = ...) -> None: ...

class GetTrackingPlanRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTrackingPlansRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTrackingPlansResponse(_message.Message):
    __slots__ = ("tracking_plans", "next_page_token")
    TRACKING_PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tracking_plans: _containers.RepeatedCompositeFieldContainer[TrackingPlan]
    next_page_token: str
    def __init__(self, tracking_plans: _Optional[_Iterable[_Union[TrackingPlan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTrackingPlanRequest(_message.Message):
    __slots__ = ("tracking_plan", "update_mask")
    TRACKING_PLAN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    tracking_plan: TrackingPlan
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, tracking_plan: _Optional[_Union[TrackingPlan, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteTrackingPlanRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTrackingPlanRevisionsRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTrackingPlanRevisionsResponse(_message.Message):
    __slots__ = ("tracking_plans", "next_page_token")
    TRACKING_PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tracking_plans: _containers.RepeatedCompositeFieldContainer[TrackingPlan]
    next_page_token: str
    def __init__(self, tracking_plans: _Optional[_Iterable[_Union[TrackingPlan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListTrackingPlanViolationsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ViolationCount(_message.Message):
    __slots__ = ("event", "event_type", "kind", "field", "count", "description", "last_message_id", "last_time")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LAST_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_TIME_FIELD_NUMBER: _ClassVar[int]
    event: str
    event_type: EventType
    kind: ViolationKind
    field: str
    count: int
    description: str
    last_message_id: str
    last_time: _timestamp_pb2.Timestamp
    def __init__(self, event: _Optional[str] = ..., event_type: _Optional[_Union[EventType, str]] = ..., kind: _Optional[_Union[ViolationKind, str]] = ..., field: _Optional[str] = ..., count: _Optional[int] = ..., description: _Optional[str] = ..., last_message_id: _Optional[str] = ..., last_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTrackingPlanViolationsResponse(_message.Message):
    __slots__ = ("violation_counts", "next_page_token", "total_count")
    VIOLATION_COUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    violation_counts: _containers.RepeatedCompositeFieldContainer[ViolationCount]
    next_page_token: str
    total_count: int
    def __init__(self, violation_counts: _Optional[_Iterable[_Union[ViolationCount, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class ComputedTrait(_message.Message):
    __slots__ = ("name", "key", "kind", "window_days", "event", "filter", "property", "create_time", "backfill_job")
    class FilterEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_JOB_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    kind: ComputedTraitKind
    window_days: int
    event: str
    filter: _containers.MessageMap[str, _struct_pb2.Value]
    property: str
    create_time: _timestamp_pb2.Timestamp
    backfill_job: str
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ..., kind: _Optional[_Union[ComputedTraitKind, str]] = ..., window_days: _Optional[int] = ..., event: _Optional[str] = ..., filter: _Optional[_Mapping[str, _struct_pb2.Value]] = ..., property: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., backfill_job: _Optional[str] = ...) -> None: ...

class CreateComputedTraitRequest(_message.Message):
    __slots__ = ("parent", "computed_trait", "computed_trait_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_TRAIT_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_TRAIT_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    computed_trait: ComputedTrait
    computed_trait_id: str
    def __init__(self, parent: _Optional[str] = ..., computed_trait: _Optional[_Union[ComputedTrait, _Mapping]] = ..., computed_trait_id: _Optional[str] = ...) -> None: ...

class GetComputedTraitRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListComputedTraitsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListComputedTraitsResponse(_message.Message):
    __slots__ = ("computed_traits", "next_page_token")
    COMPUTED_TRAITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    computed_traits: _containers.RepeatedCompositeFieldContainer[ComputedTrait]
    next_page_token: str
    def __init__(self, computed_traits: _Optional[_Iterable[_Union[ComputedTrait, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateComputedTraitRequest(_message.Message):
    __slots__ = ("computed_trait", "update_mask")
    COMPUTED_TRAIT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    computed_trait: ComputedTrait
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, computed_trait: _Optional[_Union[ComputedTrait, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteComputedTraitRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class BackfillJob(_message.Message):
    __slots__ = ("name", "state", "processed_event_count", "total_event_count", "progress_percent", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: BackfillJobState
    processed_event_count: int
    total_event_count: int
    progress_percent: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[BackfillJobState, str]] = ..., processed_event_count: _Optional[int] = ..., total_event_count: _Optional[int] = ..., progress_percent: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetBackfillJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListBackfillJobsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBackfillJobsResponse(_message.Message):
    __slots__ = ("backfill_jobs", "next_page_token")
    BACKFILL_JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    backfill_jobs: _containers.RepeatedCompositeFieldContainer[BackfillJob]
    next_page_token: str
    def __init__(self, backfill_jobs: _Optional[_Iterable[_Union[BackfillJob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
