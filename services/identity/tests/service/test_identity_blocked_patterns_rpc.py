"""Blocked patterns run by RE2, through gRPC: none can stall Resolve, stored ones stay usable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import grpc
from rapport.identity.adapters.rules_repository import load_default_rules
from rapport.identity.adapters.tables import identity_rules
from rapport.identity.domain.rules import rules_to_data
from rapport.identity.v1 import identity_service_pb2 as pb

from .._identity_support import ident, store_rows

PARENT = "workspaces/default"
RULES = "workspaces/default/identityRules"


def resolve(*identifiers) -> pb.ResolveRequest:
    return pb.ResolveRequest(parent=PARENT, identifiers=list(identifiers))


async def _block_device_ids(stub, *patterns: str):
    rules = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    device = next(r for r in rules.identifier_types if r.type == "device_id")
    del device.blocked_patterns[:]
    device.blocked_patterns.extend(patterns)
    return stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules))


async def test_nested_quantifiers_cannot_stall_resolve(stub) -> None:
    """With Python's re, (a+)+ against 25 characters took 5 s (and doubled per character)."""
    await (await _block_device_ids(stub, "(a+)+"))
    got = await stub.Resolve(resolve(ident("device_id", "a" * 500 + "!")))
    assert [i.value for i in got.customer.identifiers] == ["a" * 500 + "!"]
    blocked = await stub.Resolve(resolve(ident("device_id", "a" * 500), ident("user_id", "u1")))
    assert [r.reason for r in blocked.rejected_identifiers] == ["BLOCKED_VALUE"]


async def test_patterns_re2_cannot_run_are_refused(stub, fails) -> None:
    failure = await fails(
        await _block_device_ids(stub, "0+", r"(\w)\1+"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert failure.field == "identity_rules.identifier_types[3].blocked_patterns[1]"
    assert "back-references" in failure.error.details()


async def test_stored_patterns_re2_cannot_run_leave_resolve_working(
    stub, identity_settings
) -> None:
    """Rules saved while Python's re ran them: the rest of the rules still apply."""
    await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))  # migrate
    defaults = load_default_rules(None, default_phone_region="US")
    stored = replace(
        defaults,
        identifier_types=tuple(
            replace(r, blocked_patterns=(r"(\w)\1+", "0+")) if r.type == "device_id" else r
            for r in defaults.identifier_types
        ),
    )
    await store_rows(
        identity_settings,
        identity_rules,
        {"workspace": "default", "rules": rules_to_data(stored), "update_time": datetime.now(UTC)},
    )
    got = await stub.Resolve(resolve(ident("device_id", "aa"), ident("device_id", "000")))
    assert [i.value for i in got.customer.identifiers] == ["aa"]  # the (\w)\1+ is ignored
    assert [r.reason for r in got.rejected_identifiers] == ["BLOCKED_VALUE"]
    shown = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
    assert list(shown.identifier_types[3].blocked_patterns) == [r"(\w)\1+", "0+"]
