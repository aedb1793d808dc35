"""GetIdentityRules, UpdateIdentityRules, and Resolve under the rules, through gRPC (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.identity.adapters.tables import blocked_identifiers, separations
from rapport.identity.domain.model import Identifier
from rapport.identity.domain.rules import erased_digest
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.type.v1 import identifier_pb2

from .._identity_support import ident, store_rows

PARENT = "workspaces/default"
RULES = "workspaces/default/identityRules"
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def resolve(*identifiers: identifier_pb2.Identifier, **kw: object) -> pb.ResolveRequest:
    return pb.ResolveRequest(parent=PARENT, identifiers=list(identifiers), **kw)


async def live_count(stub) -> int:
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=1000))
    return len(listed.customers)


# --- GetIdentityRules / UpdateIdentityRules ----------------------------------------


async def test_defaults_until_updated(stub) -> None:
    rules = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    assert rules.name == RULES
    assert [r.type for r in rules.identifier_types] == [
        "user_id",
        "email",
        "phone",
        "device_id",
        "anonymous_id",
    ]
    assert rules.identifier_types[0].limit == 1
    assert rules.identifier_types[1].normalization == pb.NORMALIZATION_EMAIL
    assert rules.identifier_types[2].default_phone_region == "US"
    assert "null" in rules.identifier_types[0].blocked_patterns[0]
    assert rules.matching.merge_threshold == pytest.approx(0.99)
    assert not rules.HasField("update_time")


async def test_update_then_get_and_resolve_use_the_new_rules(stub) -> None:
    rules = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    crm = pb.IdentifierTypeRule(
        type="crm_id",
        normalization=pb.NORMALIZATION_LOWERCASE,
        limit=2,
        limit_window=Duration(seconds=3600),
        blocked_patterns=["(?i)crm-test-.*"],
    )
    rules.identifier_types.insert(0, crm)
    rules.matching.review_threshold = 0.5
    updated = await stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules))
    assert updated.HasField("update_time")
    assert updated.identifier_types[0] == crm
    assert updated.matching.review_threshold == pytest.approx(0.5)

    got = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    assert got == updated

    created = await stub.Resolve(resolve(ident("crm_id", " ABC "), ident("crm_id", "CRM-TEST-1")))
    assert [(i.type, i.value) for i in created.customer.identifiers] == [("crm_id", "abc")]
    assert [r.reason for r in created.rejected_identifiers] == ["BLOCKED_VALUE"]


async def test_update_mask_changes_only_the_named_part(stub) -> None:
    rules = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    rules.matching.merge_threshold = 0.95
    del rules.identifier_types[1:]  # ignored: not in the mask
    updated = await stub.UpdateIdentityRules(
        pb.UpdateIdentityRulesRequest(
            identity_rules=rules, update_mask=FieldMask(paths=["matching"])
        )
    )
    assert updated.matching.merge_threshold == pytest.approx(0.95)
    assert len(updated.identifier_types) == 5


async def test_zero_thresholds_mean_the_defaults(stub) -> None:
    rules = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    rules.matching.Clear()
    updated = await stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules))
    assert updated.matching.merge_threshold == pytest.approx(0.99)
    assert updated.matching.review_threshold == pytest.approx(0.8)


def _broken(field: str) -> pb.IdentityRules:
    rules = pb.IdentityRules(
        name=RULES,
        identifier_types=[
            pb.IdentifierTypeRule(type="user_id", normalization=pb.NORMALIZATION_TRIM, limit=1),
            pb.IdentifierTypeRule(
                type="phone", normalization=pb.NORMALIZATION_PHONE, default_phone_region="GB"
            ),
        ],
        matching=pb.MatchingThresholds(merge_threshold=0.9, review_threshold=0.7),
    )
    second = rules.identifier_types[1]
    match field:
        case "identity_rules.name":
            rules.name = "workspaces/default/rules"
        case "identity_rules.identifier_types":
            del rules.identifier_types[:]
        case "identity_rules.identifier_types[1].type":
            second.type = "user_id"
        case "identity_rules.identifier_types[1].normalization":
            second.normalization = pb.NORMALIZATION_UNSPECIFIED
        case "identity_rules.identifier_types[1].default_phone_region":
            second.default_phone_region = "ZZ"
        case "identity_rules.identifier_types[1].limit":
            second.limit = -2
        case "identity_rules.identifier_types[1].limit_window":
            second.limit_window.seconds = -5
        case "identity_rules.identifier_types[1].blocked_patterns[0]":
            second.blocked_patterns.append("[")
        case "identity_rules.matching.merge_threshold":
            rules.matching.merge_threshold = 2
        case "identity_rules.matching.review_threshold":
            rules.matching.review_threshold = 0.95
    return rules


@pytest.mark.parametrize(
    "field",
    [
        "identity_rules.name",
        "identity_rules.identifier_types",
        "identity_rules.identifier_types[1].type",
        "identity_rules.identifier_types[1].normalization",
        "identity_rules.identifier_types[1].default_phone_region",
        "identity_rules.identifier_types[1].limit",
        "identity_rules.identifier_types[1].limit_window",
        "identity_rules.identifier_types[1].blocked_patterns[0]",
        "identity_rules.matching.merge_threshold",
        "identity_rules.matching.review_threshold",
    ],
)
async def test_invalid_rules_are_refused_and_change_nothing(stub, fails, field) -> None:
    failure = await fails(
        stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=_broken(field))),
        INVALID,
    )
    assert failure.field == field
    got = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    assert not got.HasField("update_time")  # still the defaults


async def test_unknown_update_mask_path_is_refused(stub, fails) -> None:
    failure = await fails(
        stub.UpdateIdentityRules(
            pb.UpdateIdentityRulesRequest(
                identity_rules=_broken("none"), update_mask=FieldMask(paths=["name"])
            )
        ),
        INVALID,
    )
    assert failure.field == "update_mask"


async def test_rules_of_unknown_workspace_are_not_found(stub, fails) -> None:
    await fails(
        stub.GetIdentityRules(pb.GetIdentityRulesRequest(name="workspaces/nope/identityRules")),
        grpc.StatusCode.NOT_FOUND,
    )
    failure = await fails(
        stub.GetIdentityRules(pb.GetIdentityRulesRequest(name="workspaces/default")), INVALID
    )
    assert failure.field == "name"


async def test_types_removed_from_the_rules_are_refused_by_resolve(stub, fails) -> None:
    rules = _broken("none")
    await stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules))
    failure = await fails(stub.Resolve(resolve(ident("email", "a@x.io"))), INVALID)
    assert failure.field == "identifiers[0].type"
    # The phone rule's own region applies.
    got = await stub.Resolve(resolve(ident("phone", "020 7946 0958")))
    assert got.customer.identifiers[0].value == "+442079460958"


# --- Resolve's rejections ----------------------------------------------------------


async def test_blocked_values_are_rejected_and_never_linked(stub, fails) -> None:
    got = await stub.Resolve(resolve(ident("user_id", "undefined"), ident("email", "a@x.io")))
    assert [(i.type, i.value) for i in got.customer.identifiers] == [("email", "a@x.io")]
    [rejected] = got.rejected_identifiers
    assert (rejected.identifier.type, rejected.identifier.value) == ("user_id", "undefined")
    assert rejected.reason == "BLOCKED_VALUE" and rejected.description
    await fails(
        stub.LookupCustomer(
            pb.LookupCustomerRequest(parent=PARENT, identifier=ident("user_id", "undefined"))
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_all_rejected_creates_nothing_and_answers_without_customer(stub) -> None:
    got = await stub.Resolve(resolve(ident("user_id", "null"), ident("anonymous_id", "0")))
    assert not got.HasField("customer") and not got.created
    assert [r.reason for r in got.rejected_identifiers] == ["BLOCKED_VALUE", "BLOCKED_VALUE"]
    assert await live_count(stub) == 0


async def test_user_id_limit_leaves_the_lower_priority_identifier_out(stub) -> None:
    first = await stub.Resolve(resolve(ident("user_id", "u1"), ident("email", "shared@x.io")))
    second = await stub.Resolve(resolve(ident("user_id", "u2"), ident("email", "shared@x.io")))
    assert second.created and second.customer.name != first.customer.name
    assert [(r.identifier.value, r.reason) for r in second.rejected_identifiers] == [
        ("shared@x.io", "LIMIT_EXCEEDED")
    ]
    assert [i.value for i in second.customer.identifiers] == ["u2"]
    assert await live_count(stub) == 2


async def test_erased_and_blocked_identifiers_are_rejected(stub, identity_settings) -> None:
    await stub.Resolve(resolve(ident("device_id", "d0")))  # migrate and warm up
    await store_rows(
        identity_settings,
        blocked_identifiers,
        {
            "workspace": "default",
            "type": "email",
            "value_digest": erased_digest(Identifier("email", "gone@x.io")),
            "reason": "ERASED",
            "create_time": datetime.now(UTC),
        },
    )
    got = await stub.Resolve(resolve(ident("email", " Gone@X.io"), ident("device_id", "d1")))
    assert [(r.identifier.value, r.reason) for r in got.rejected_identifiers] == [
        ("gone@x.io", "ERASED_BLOCKED")
    ]
    assert [i.value for i in got.customer.identifiers] == ["d1"]


async def test_separated_customers_are_kept_apart(stub, identity_settings) -> None:
    c1 = (await stub.Resolve(resolve(ident("device_id", "d1")))).customer.name.split("/")[-1]
    c2 = (await stub.Resolve(resolve(ident("device_id", "d2")))).customer.name.split("/")[-1]
    low, high = sorted([c1, c2])
    await store_rows(
        identity_settings,
        separations,
        {
            "workspace": "default",
            "customer_a": low,
            "customer_b": high,
            "reason": "UNMERGED",
            "create_time": datetime.now(UTC),
        },
    )
    got = await stub.Resolve(resolve(ident("device_id", "d1"), ident("device_id", "d2")))
    assert got.customer.name.endswith(c1)
    assert list(got.merged_customers) == []
    assert [(r.identifier.value, r.reason) for r in got.rejected_identifiers] == [
        ("d2", "KEPT_APART")
    ]
    assert await live_count(stub) == 2


# --- attributes ----------------------------------------------------------------------


def at(seconds: int) -> Timestamp:
    return Timestamp(seconds=1_700_000_000 + seconds)


async def test_attributes_are_stored_latest_observation_wins(stub) -> None:
    first = await stub.Resolve(
        resolve(
            ident("device_id", "d1"),
            attributes=pb.PersonAttributes(given_name="Ann", birth_date="1990-02-03"),
            observe_time=at(10),
        )
    )
    assert first.customer.attributes == pb.PersonAttributes(
        given_name="Ann", birth_date="1990-02-03"
    )
    older = await stub.Resolve(
        resolve(
            ident("device_id", "d1"),
            attributes=pb.PersonAttributes(given_name="Annie"),
            observe_time=at(5),
        )
    )
    assert older.customer.attributes.given_name == "Ann"  # an older observation loses
    newer = await stub.Resolve(
        resolve(
            ident("device_id", "d1"),
            attributes=pb.PersonAttributes(family_name="Lee"),
            observe_time=at(20),
        )
    )
    assert newer.customer.attributes == pb.PersonAttributes(family_name="Lee")
    got = await stub.GetCustomer(pb.GetCustomerRequest(name=first.customer.name))
    assert got.attributes == pb.PersonAttributes(family_name="Lee")


async def test_merge_keeps_the_most_recent_attributes(stub) -> None:
    old = await stub.Resolve(
        resolve(
            ident("device_id", "d1"),
            attributes=pb.PersonAttributes(given_name="Old"),
            observe_time=at(1),
        )
    )
    await stub.Resolve(
        resolve(
            ident("device_id", "d2"),
            attributes=pb.PersonAttributes(given_name="Recent"),
            observe_time=at(50),
        )
    )
    merged = await stub.Resolve(resolve(ident("device_id", "d1"), ident("device_id", "d2")))
    assert merged.customer.name == old.customer.name
    assert merged.customer.attributes.given_name == "Recent"
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))
    assert listed.customers[0].attributes.given_name == "Recent"


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        (pb.PersonAttributes(birth_date="1990-13-01"), "attributes.birth_date"),
        (pb.PersonAttributes(birth_date="3 May 1990"), "attributes.birth_date"),
        (pb.PersonAttributes(locality="x" * 201), "attributes.locality"),
    ],
)
async def test_invalid_attributes_are_refused(stub, fails, attributes, field) -> None:
    failure = await fails(
        stub.Resolve(resolve(ident("device_id", "d1"), attributes=attributes)), INVALID
    )
    assert failure.field == field
    assert await live_count(stub) == 0


async def test_invalid_attributes_in_a_batch_name_the_request(stub, fails) -> None:
    batch = pb.BatchResolveRequest(
        parent=PARENT,
        requests=[
            resolve(ident("device_id", "d1")),
            resolve(
                ident("device_id", "d2"), attributes=pb.PersonAttributes(birth_date="yesterday")
            ),
        ],
    )
    failure = await fails(stub.BatchResolve(batch), INVALID)
    assert failure.field == "requests[1].attributes.birth_date"
    assert await live_count(stub) == 0
