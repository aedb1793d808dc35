import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rapport.type.v1 import identifier_pb2 as _identifier_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_KIND_UNSPECIFIED: _ClassVar[ChangeKind]
    CHANGE_KIND_CREATED: _ClassVar[ChangeKind]
    CHANGE_KIND_MERGED: _ClassVar[ChangeKind]
    CHANGE_KIND_UNMERGED: _ClassVar[ChangeKind]
    CHANGE_KIND_ERASED: _ClassVar[ChangeKind]
    CHANGE_KIND_RULES_UPDATED: _ClassVar[ChangeKind]

class Normalization(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NORMALIZATION_UNSPECIFIED: _ClassVar[Normalization]
    NORMALIZATION_TRIM: _ClassVar[Normalization]
    NORMALIZATION_EMAIL: _ClassVar[Normalization]
    NORMALIZATION_PHONE: _ClassVar[Normalization]
    NORMALIZATION_LOWERCASE: _ClassVar[Normalization]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_PENDING: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]

class ReviewState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_STATE_UNSPECIFIED: _ClassVar[ReviewState]
    REVIEW_STATE_PENDING: _ClassVar[ReviewState]
    REVIEW_STATE_ACCEPTED: _ClassVar[ReviewState]
    REVIEW_STATE_REJECTED: _ClassVar[ReviewState]

class ReviewDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_DECISION_UNSPECIFIED: _ClassVar[ReviewDecision]
    REVIEW_DECISION_ACCEPT: _ClassVar[ReviewDecision]
    REVIEW_DECISION_REJECT: _ClassVar[ReviewDecision]
CHANGE_KIND_UNSPECIFIED: ChangeKind
CHANGE_KIND_CREATED: ChangeKind
CHANGE_KIND_MERGED: ChangeKind
CHANGE_KIND_UNMERGED: ChangeKind
CHANGE_KIND_ERASED: ChangeKind
CHANGE_KIND_RULES_UPDATED: ChangeKind
NORMALIZATION_UNSPECIFIED: Normalization
NORMALIZATION_TRIM: Normalization
NORMALIZATION_EMAIL: Normalization
NORMALIZATION_PHONE: Normalization
NORMALIZATION_LOWERCASE: Normalization
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_PENDING: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
REVIEW_STATE_UNSPECIFIED: ReviewState
REVIEW_STATE_PENDING: ReviewState
REVIEW_STATE_ACCEPTED: ReviewState
REVIEW_STATE_REJECTED: ReviewState
REVIEW_DECISION_UNSPECIFIED: ReviewDecision
REVIEW_DECISION_ACCEPT: ReviewDecision
REVIEW_DECISION_REJECT: ReviewDecision

class Customer(_message.Message):
    __slots__ = ("name", "identifiers", "create_time", "update_time", "merged_customers", "attributes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MERGED_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_identifier_pb2.Identifier]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    merged_customers: _containers.RepeatedScalarFieldContainer[str]
    attributes: PersonAttributes
    def __init__(self, name: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_identifier_pb2.Identifier, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., merged_customers: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Union[PersonAttributes, _Mapping]] = ...) -> None: ...

class PersonAttributes(_message.Message):
    __slots__ = ("given_name", "family_name", "birth_date", "street_number", "address_line1", "address_line2", "locality", "postal_code", "region")
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    STREET_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_LINE1_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_LINE2_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    given_name: str
    family_name: str
    birth_date: str
    street_number: str
    address_line1: str
    address_line2: str
    locality: str
    postal_code: str
    region: str
    def __init__(self, given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ..., street_number: _Optional[str] = ..., address_line1: _Optional[str] = ..., address_line2: _Optional[str] = ..., locality: _Optional[str] = ..., postal_code: _Optional[str] = ..., region: _Optional[str] = ...) -> None: ...

class RejectedIdentifier(_message.Message):
    __slots__ = ("identifier", "reason", "description")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    identifier: _identifier_pb2.Identifier
    reason: str
    description: str
    def __init__(self, identifier: _Optional[_Union[_identifier_pb2.Identifier, _Mapping]] = ..., reason: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("parent", "identifiers", "source", "observe_time", "attributes", "link_all_or_nothing")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OBSERVE_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    LINK_ALL_OR_NOTHING_FIELD_NUMBER: _ClassVar[int]
    parent: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_identifier_pb2.Identifier]
    source: str
    observe_time: _timestamp_pb2.Timestamp
    attributes: PersonAttributes
    link_all_or_nothing: bool
    def __init__(self, parent: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_identifier_pb2.Identifier, _Mapping]]] = ..., source: _Optional[str] = ..., observe_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attributes: _Optional[_Union[PersonAttributes, _Mapping]] = ..., link_all_or_nothing: _Optional[bool] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("customer", "created", "merged_customers", "rejected_identifiers")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    MERGED_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    created: bool
    merged_customers: _containers.RepeatedScalarFieldContainer[str]
    rejected_identifiers: _containers.RepeatedCompositeFieldContainer[RejectedIdentifier]
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ..., created: _Optional[bool] = ..., merged_customers: _Optional[_Iterable[str]] = ..., rejected_identifiers: _Optional[_Iterable[_Union[RejectedIdentifier, _Mapping]]] = ...) -> None: ...

class BatchResolveRequest(_message.Message):
    __slots__ = ("parent", "requests")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    requests: _containers.RepeatedCompositeFieldContainer[ResolveRequest]
    def __init__(self, parent: _Optional[str] = ..., requests: _Optional[_Iterable[_Union[ResolveRequest, _Mapping]]] = ...) -> None: ...

class BatchResolveResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ResolveResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[ResolveResponse, _Mapping]]] = ...) -> None: ...

class GetCustomerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class LookupCustomerRequest(_message.Message):
    __slots__ = ("parent", "identifier")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    identifier: _identifier_pb2.Identifier
    def __init__(self, parent: _Optional[str] = ..., identifier: _Optional[_Union[_identifier_pb2.Identifier, _Mapping]] = ...) -> None: ...

class ListCustomersRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCustomersResponse(_message.Message):
    __slots__ = ("customers", "next_page_token")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[Customer]
    next_page_token: str
    def __init__(self, customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UnmergeCustomerRequest(_message.Message):
    __slots__ = ("name", "customers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    customers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., customers: _Optional[_Iterable[str]] = ...) -> None: ...

class UnmergeCustomerResponse(_message.Message):
    __slots__ = ("customer", "restored_customers")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    RESTORED_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    restored_customers: _containers.RepeatedCompositeFieldContainer[Customer]
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ..., restored_customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ...) -> None: ...

class EraseCustomerRequest(_message.Message):
    __slots__ = ("name", "block_identifiers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BLOCK_IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    block_identifiers: bool
    def __init__(self, name: _Optional[str] = ..., block_identifiers: _Optional[bool] = ...) -> None: ...

class EraseCustomerResponse(_message.Message):
    __slots__ = ("name", "erased_identifier_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ERASED_IDENTIFIER_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    erased_identifier_count: int
    def __init__(self, name: _Optional[str] = ..., erased_identifier_count: _Optional[int] = ...) -> None: ...

class Change(_message.Message):
    __slots__ = ("cursor", "kind", "customer", "other_customers", "create_time")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    OTHER_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    kind: ChangeKind
    customer: str
    other_customers: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, cursor: _Optional[str] = ..., kind: _Optional[_Union[ChangeKind, str]] = ..., customer: _Optional[str] = ..., other_customers: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchChangesRequest(_message.Message):
    __slots__ = ("parent", "start_cursor")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    START_CURSOR_FIELD_NUMBER: _ClassVar[int]
    parent: str
    start_cursor: str
    def __init__(self, parent: _Optional[str] = ..., start_cursor: _Optional[str] = ...) -> None: ...

class WatchChangesResponse(_message.Message):
    __slots__ = ("change", "skipped_change_count")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_CHANGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    change: Change
    skipped_change_count: int
    def __init__(self, change: _Optional[_Union[Change, _Mapping]] = ..., skipped_change_count: _Optional[int] = ...) -> None: ...

class IdentifierTypeRule(_message.Message):
    __slots__ = ("type", "normalization", "fold_email_provider", "default_phone_region", "limit", "limit_window", "blocked_patterns")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    FOLD_EMAIL_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PHONE_REGION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    type: str
    normalization: Normalization
    fold_email_provider: bool
    default_phone_region: str
    limit: int
    limit_window: _duration_pb2.Duration
    blocked_patterns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type: _Optional[str] = ..., normalization: _Optional[_Union[Normalization, str]] = ..., fold_email_provider: _Optional[bool] = ..., default_phone_region: _Optional[str] = ..., limit: _Optional[int] = ..., limit_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., blocked_patterns: _Optional[_Iterable[str]] = ...) -> None: ...

class MatchingThresholds(_message.Message):
    __slots__ = ("merge_threshold", "review_threshold")
    MERGE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    REVIEW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    merge_threshold: float
    review_threshold: float
    def __init__(self, merge_threshold: _Optional[float] = ..., review_threshold: _Optional[float] = ...) -> None: ...

class IdentityRules(_message.Message):
    __slots__ = ("name", "identifier_types", "matching", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_TYPES_FIELD_NUMBER: _ClassVar[int]
    MATCHING_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    identifier_types: _containers.RepeatedCompositeFieldContainer[IdentifierTypeRule]
    matching: MatchingThresholds
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., identifier_types: _Optional[_Iterable[_Union[IdentifierTypeRule, _Mapping]]] = ..., matching: _Optional[_Union[MatchingThresholds, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetIdentityRulesRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateIdentityRulesRequest(_message.Message):
    __slots__ = ("identity_rules", "update_mask")
    IDENTITY_RULES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    identity_rules: IdentityRules
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, identity_rules: _Optional[_Union[IdentityRules, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class AttributeComparison(_message.Message):
    __slots__ = ("attribute", "level", "bayes_factor")
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    BAYES_FACTOR_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    level: str
    bayes_factor: float
    def __init__(self, attribute: _Optional[str] = ..., level: _Optional[str] = ..., bayes_factor: _Optional[float] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("customer", "probability", "match_weight", "comparisons")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    MATCH_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    COMPARISONS_FIELD_NUMBER: _ClassVar[int]
    customer: str
    probability: float
    match_weight: float
    comparisons: _containers.RepeatedCompositeFieldContainer[AttributeComparison]
    def __init__(self, customer: _Optional[str] = ..., probability: _Optional[float] = ..., match_weight: _Optional[float] = ..., comparisons: _Optional[_Iterable[_Union[AttributeComparison, _Mapping]]] = ...) -> None: ...

class FindMatchesRequest(_message.Message):
    __slots__ = ("parent", "customer", "record", "max_results", "min_probability")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    MIN_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    customer: str
    record: PersonAttributes
    max_results: int
    min_probability: float
    def __init__(self, parent: _Optional[str] = ..., customer: _Optional[str] = ..., record: _Optional[_Union[PersonAttributes, _Mapping]] = ..., max_results: _Optional[int] = ..., min_probability: _Optional[float] = ...) -> None: ...

class FindMatchesResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    def __init__(self, matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ...) -> None: ...

class DeduplicationJob(_message.Message):
    __slots__ = ("name", "state", "progress", "thresholds", "record_count", "candidate_pair_count", "merged_count", "review_count", "error", "create_time", "end_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_PAIR_COUNT_FIELD_NUMBER: _ClassVar[int]
    MERGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: JobState
    progress: float
    thresholds: MatchingThresholds
    record_count: int
    candidate_pair_count: int
    merged_count: int
    review_count: int
    error: str
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[float] = ..., thresholds: _Optional[_Union[MatchingThresholds, _Mapping]] = ..., record_count: _Optional[int] = ..., candidate_pair_count: _Optional[int] = ..., merged_count: _Optional[int] = ..., review_count: _Optional[int] = ..., error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateDeduplicationJobRequest(_message.Message):
    __slots__ = ("parent", "deduplication_job")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATION_JOB_FIELD_NUMBER: _ClassVar[int]
    parent: str
    deduplication_job: DeduplicationJob
    def __init__(self, parent: _Optional[str] = ..., deduplication_job: _Optional[_Union[DeduplicationJob, _Mapping]] = ...) -> None: ...

class GetDeduplicationJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDeduplicationJobsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeduplicationJobsResponse(_message.Message):
    __slots__ = ("deduplication_jobs", "next_page_token")
    DEDUPLICATION_JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deduplication_jobs: _containers.RepeatedCompositeFieldContainer[DeduplicationJob]
    next_page_token: str
    def __init__(self, deduplication_jobs: _Optional[_Iterable[_Union[DeduplicationJob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MatchReview(_message.Message):
    __slots__ = ("name", "match", "customer", "state", "deduplication_job", "create_time", "review_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATION_JOB_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    match: Match
    customer: str
    state: ReviewState
    deduplication_job: str
    create_time: _timestamp_pb2.Timestamp
    review_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., match: _Optional[_Union[Match, _Mapping]] = ..., customer: _Optional[str] = ..., state: _Optional[_Union[ReviewState, str]] = ..., deduplication_job: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., review_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetMatchReviewRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListMatchReviewsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "state")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    state: ReviewState
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[ReviewState, str]] = ...) -> None: ...

class ListMatchReviewsResponse(_message.Message):
    __slots__ = ("match_reviews", "next_page_token")
    MATCH_REVIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    match_reviews: _containers.RepeatedCompositeFieldContainer[MatchReview]
    next_page_token: str
    def __init__(self, match_reviews: _Optional[_Iterable[_Union[MatchReview, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReviewMatchRequest(_message.Message):
    __slots__ = ("name", "decision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: ReviewDecision
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ...) -> None: ...
