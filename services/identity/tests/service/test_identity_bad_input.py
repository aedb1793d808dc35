"""Odd values through the gRPC stub, class by class, for every RPC taking such a field:
each is INVALID_ARGUMENT naming the field (never INTERNAL or UNKNOWN) and changes nothing.

Identity takes no Struct or Value: there is no nesting depth to refuse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.identity.v1 import identity_service_pb2 as pb

from .._identity_support import PARENT, Stub, expect_invalid, ident

RULES = f"{PARENT}/identityRules"
CUSTOMER = f"{PARENT}/customers/c0ffee"
HUGE = "x" * (1 << 20)
LISTS = [
    ("ListCustomers", pb.ListCustomersRequest),
    ("ListDeduplicationJobs", pb.ListDeduplicationJobsRequest),
    ("ListMatchReviews", pb.ListMatchReviewsRequest),
]

# google.protobuf.Timestamp spans 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
BAD_TIMESTAMPS = [
    Timestamp(seconds=-62_135_596_801),
    Timestamp(seconds=253_402_300_800),
    Timestamp(seconds=-(2**63)),
    Timestamp(seconds=2**63 - 1),
    Timestamp(seconds=0, nanos=-1),
    Timestamp(seconds=0, nanos=1_000_000_000),
]
BAD_DURATIONS = [
    Duration(seconds=315_576_000_001),  # beyond google.protobuf.Duration
    Duration(seconds=2**63 - 1),
    Duration(seconds=-(2**63)),
    Duration(seconds=0, nanos=1_000_000_000),
    Duration(seconds=1, nanos=-1),  # mixed signs
    Duration(seconds=-1),  # a negative window
    Duration(seconds=3651 * 86400),  # longer than the ten years a window may span
]
ODD_DOUBLES = [math.nan, math.inf, -math.inf, 1e308, -1e308, 1.0000001, -1e-300]
ODD_NAMES = [
    "",
    "workspaces/",
    "workspaces/default/",
    "/workspaces/default",
    "workspaces/DEFAULT",
    "workspaces/dé",
    "workspaces/default\x00",
    "workspaces/default/customers/c/extra",
    "workspaces/default/deduplicationJobs/j/x",
    "workspaces/" + HUGE,
]


async def call(stub: Stub, method: str, request: Any) -> Any:
    """Unary RPCs are awaited; WatchChanges is read once (errors come with the first read)."""
    if method == "WatchChanges":
        stream = stub.WatchChanges(request)
        try:
            return await stream.read()
        finally:
            stream.cancel()
    return await getattr(stub, method)(request)


async def assert_nothing_changed(stub: Stub) -> None:
    customers = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))
    assert list(customers.customers) == []
    rules = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    assert not rules.HasField("update_time")
    jobs = await stub.ListDeduplicationJobs(pb.ListDeduplicationJobsRequest(parent=PARENT))
    assert list(jobs.deduplication_jobs) == []


async def default_rules(stub: Stub) -> pb.IdentityRules:
    return await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))


def resolve(**fields: Any) -> pb.ResolveRequest:
    fields.setdefault("parent", PARENT)
    fields.setdefault("identifiers", [ident("user_id", "u1")])
    return pb.ResolveRequest(**fields)


# --- Timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS, ids=str)
async def test_out_of_range_timestamps(stub: Stub, stamp: Timestamp) -> None:
    await expect_invalid(stub.Resolve(resolve(observe_time=stamp)), "observe_time")
    batch = pb.BatchResolveRequest(parent=PARENT, requests=[resolve(), resolve(observe_time=stamp)])
    await expect_invalid(stub.BatchResolve(batch), "requests[1].observe_time")
    await assert_nothing_changed(stub)


async def test_the_extreme_valid_timestamps_are_accepted(stub: Stub) -> None:
    for seconds, nanos in ((-62_135_596_800, 0), (253_402_300_799, 999_999_999)):
        stamp = Timestamp(seconds=seconds, nanos=nanos)
        answer = await stub.Resolve(resolve(observe_time=stamp))
        assert answer.customer.name


# --- Durations ----------------------------------------------------------------------------


@pytest.mark.parametrize("duration", BAD_DURATIONS, ids=str)
async def test_out_of_range_durations(stub: Stub, duration: Duration) -> None:
    rules = await default_rules(stub)
    rules.identifier_types[1].limit_window.CopyFrom(duration)
    await expect_invalid(
        stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules)),
        "identity_rules.identifier_types[1].limit_window",
    )
    await assert_nothing_changed(stub)


async def test_the_longest_limit_window_round_trips_to_the_microsecond(stub: Stub) -> None:
    rules = await default_rules(stub)
    rules.identifier_types[1].limit_window.CopyFrom(
        Duration(seconds=3650 * 86400 - 1, nanos=999_999_000)
    )
    updated = await stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules))
    stored = await default_rules(stub)
    assert stored == updated
    assert stored.identifier_types[1].limit_window == rules.identifier_types[1].limit_window


# --- NaN, Infinity and out-of-range doubles ------------------------------------------------


@pytest.mark.parametrize("value", ODD_DOUBLES, ids=repr)
async def test_odd_doubles(stub: Stub, value: float) -> None:
    for name in ("merge_threshold", "review_threshold"):
        rules = await default_rules(stub)
        setattr(rules.matching, name, value)
        await expect_invalid(
            stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules)),
            f"identity_rules.matching.{name}",
        )
        job = pb.DeduplicationJob(thresholds=pb.MatchingThresholds(**{name: value}))
        await expect_invalid(
            stub.CreateDeduplicationJob(
                pb.CreateDeduplicationJobRequest(parent=PARENT, deduplication_job=job)
            ),
            f"deduplication_job.thresholds.{name}",
        )
    record = pb.PersonAttributes(given_name="Ann")
    await expect_invalid(
        stub.FindMatches(
            pb.FindMatchesRequest(parent=PARENT, record=record, min_probability=value)
        ),
        "min_probability",
    )
    await assert_nothing_changed(stub)


# --- Extreme integers ----------------------------------------------------------------------


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


async def test_extreme_integers(stub: Stub) -> None:
    for method, request_type in LISTS:
        request = request_type(parent=PARENT, page_size=INT32_MIN)
        await expect_invalid(call(stub, method, request), "page_size")
        request.page_size = INT32_MAX  # clamped to the largest page
        await call(stub, method, request)
    record = pb.PersonAttributes(given_name="Ann")
    for max_results in (INT32_MIN, INT32_MAX):
        await expect_invalid(
            stub.FindMatches(
                pb.FindMatchesRequest(parent=PARENT, record=record, max_results=max_results)
            ),
            "max_results",
        )
    rules = await default_rules(stub)
    rules.identifier_types[1].limit = INT32_MIN
    await expect_invalid(
        stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules)),
        "identity_rules.identifier_types[1].limit",
    )
    for cursor in ("9223372036854775807", "9999999999999999999", "1" * 40, "-0", "1e3"):
        await expect_invalid(
            call(stub, "WatchChanges", pb.WatchChangesRequest(parent=PARENT, start_cursor=cursor)),
            "start_cursor",
        )
    await assert_nothing_changed(stub)


# --- Huge strings and NUL characters -------------------------------------------------------


def _with(value: str) -> list[tuple[str, Any, str]]:
    """(method, request carrying ``value`` in one string field, that field's path)."""
    rules = pb.IdentityRules(
        name=RULES,
        identifier_types=[pb.IdentifierTypeRule(type="user_id", normalization=1)],
    )

    def rule(**fields: Any) -> pb.UpdateIdentityRulesRequest:
        changed = pb.IdentityRules()
        changed.CopyFrom(rules)
        for key, item in fields.items():
            if key == "blocked_patterns":
                changed.identifier_types[0].blocked_patterns.append(item)
            else:
                setattr(changed.identifier_types[0], key, item)
        return pb.UpdateIdentityRulesRequest(identity_rules=changed)

    return [
        ("Resolve", resolve(identifiers=[ident("user_id", value)]), "identifiers[0].value"),
        ("Resolve", resolve(identifiers=[ident(value, "v")]), "identifiers[0].type"),
        ("Resolve", resolve(source=value), "source"),
        (
            "Resolve",
            resolve(attributes=pb.PersonAttributes(family_name=value)),
            "attributes.family_name",
        ),
        (
            "BatchResolve",
            pb.BatchResolveRequest(
                parent=PARENT,
                requests=[resolve(), resolve(identifiers=[ident("email", value)])],
            ),
            "requests[1].identifiers[0].value",
        ),
        (
            "LookupCustomer",
            pb.LookupCustomerRequest(parent=PARENT, identifier=ident("user_id", value)),
            "identifier.value",
        ),
        (
            "FindMatches",
            pb.FindMatchesRequest(parent=PARENT, record=pb.PersonAttributes(locality=value)),
            "record.locality",
        ),
        ("UpdateIdentityRules", rule(type=value), "identity_rules.identifier_types[0].type"),
        (
            "UpdateIdentityRules",
            rule(default_phone_region=value),
            "identity_rules.identifier_types[0].default_phone_region",
        ),
        (
            "UpdateIdentityRules",
            rule(blocked_patterns=value + "["),
            "identity_rules.identifier_types[0].blocked_patterns[0]",
        ),
        (
            "UpdateIdentityRules",
            pb.UpdateIdentityRulesRequest(
                identity_rules=rules, update_mask=FieldMask(paths=[value])
            ),
            "update_mask",
        ),
        *[
            (method, request_type(parent=PARENT, page_token=value), "page_token")
            for method, request_type in LISTS
        ],
        (
            "WatchChanges",
            pb.WatchChangesRequest(parent=PARENT, start_cursor=value),
            "start_cursor",
        ),
        (
            "UnmergeCustomer",
            pb.UnmergeCustomerRequest(name=CUSTOMER, customers=[f"{PARENT}/customers/{value}"]),
            "customers[0]",
        ),
    ]


@pytest.mark.parametrize("value", [HUGE, "1\x00", " \x00 "], ids=["1 MiB", "NUL", "spaced NUL"])
async def test_huge_strings_and_nul_characters(stub: Stub, value: str) -> None:
    for method, request, field in _with(value):
        description = await expect_invalid(call(stub, method, request), field)
        assert HUGE not in description
    await assert_nothing_changed(stub)


# --- Unknown enum numbers -----------------------------------------------------------------


@pytest.mark.parametrize("number", [99, -1, INT32_MAX])
async def test_unknown_enum_numbers(stub: Stub, number: int) -> None:
    rules = await default_rules(stub)
    rules.identifier_types[2].normalization = number
    await expect_invalid(
        stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules)),
        "identity_rules.identifier_types[2].normalization",
    )
    await expect_invalid(
        stub.ListMatchReviews(pb.ListMatchReviewsRequest(parent=PARENT, state=number)), "state"
    )
    await expect_invalid(
        stub.ReviewMatch(pb.ReviewMatchRequest(name=f"{PARENT}/matchReviews/r1", decision=number)),
        "decision",
    )
    await assert_nothing_changed(stub)


# --- Empty and odd resource names ----------------------------------------------------------


NAMED: list[tuple[str, Callable[[str], Any], str]] = [
    ("Resolve", lambda name: resolve(parent=name), "parent"),
    (
        "BatchResolve",
        lambda name: pb.BatchResolveRequest(parent=name, requests=[resolve()]),
        "parent",
    ),
    (
        "BatchResolve",
        lambda name: pb.BatchResolveRequest(
            parent=PARENT, requests=[pb.ResolveRequest(parent=name or "x")]
        ),
        "requests[0].parent",
    ),
    ("GetCustomer", lambda name: pb.GetCustomerRequest(name=name), "name"),
    (
        "LookupCustomer",
        lambda name: pb.LookupCustomerRequest(parent=name, identifier=ident("user_id", "u")),
        "parent",
    ),
    ("ListCustomers", lambda name: pb.ListCustomersRequest(parent=name), "parent"),
    ("GetIdentityRules", lambda name: pb.GetIdentityRulesRequest(name=name), "name"),
    (
        "UpdateIdentityRules",
        lambda name: pb.UpdateIdentityRulesRequest(identity_rules=pb.IdentityRules(name=name)),
        "identity_rules.name",
    ),
    ("UnmergeCustomer", lambda name: pb.UnmergeCustomerRequest(name=name), "name"),
    (
        "UnmergeCustomer",
        lambda name: pb.UnmergeCustomerRequest(name=CUSTOMER, customers=[name]),
        "customers[0]",
    ),
    ("EraseCustomer", lambda name: pb.EraseCustomerRequest(name=name), "name"),
    ("WatchChanges", lambda name: pb.WatchChangesRequest(parent=name), "parent"),
    (
        "FindMatches",
        lambda name: pb.FindMatchesRequest(parent=name, customer=CUSTOMER),
        "parent",
    ),
    (
        "FindMatches",
        lambda name: pb.FindMatchesRequest(parent=PARENT, customer=name or "x"),
        "customer",
    ),
    (
        "CreateDeduplicationJob",
        lambda name: pb.CreateDeduplicationJobRequest(parent=name),
        "parent",
    ),
    ("GetDeduplicationJob", lambda name: pb.GetDeduplicationJobRequest(name=name), "name"),
    (
        "ListDeduplicationJobs",
        lambda name: pb.ListDeduplicationJobsRequest(parent=name),
        "parent",
    ),
    ("GetMatchReview", lambda name: pb.GetMatchReviewRequest(name=name), "name"),
    ("ListMatchReviews", lambda name: pb.ListMatchReviewsRequest(parent=name), "parent"),
    (
        "ReviewMatch",
        lambda name: pb.ReviewMatchRequest(name=name, decision=pb.REVIEW_DECISION_ACCEPT),
        "name",
    ),
]


@pytest.mark.parametrize(
    ("method", "request_for", "field"), NAMED, ids=[f"{m}.{f}" for m, _, f in NAMED]
)
async def test_empty_and_odd_resource_names(
    stub: Stub, method: str, request_for: Callable[[str], Any], field: str
) -> None:
    for name in ODD_NAMES:
        await expect_invalid(call(stub, method, request_for(name)), field)
    await assert_nothing_changed(stub)
