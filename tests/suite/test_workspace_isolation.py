"""A token limited to a workspace can name nothing outside it, in any RPC of any contract.

Every field of every request that names a resource (a `google.api.resource_reference`,
by type or child_type, or the `name` of a resource travelling in the request) is set to
a well-formed name in workspace `brand-b` (built from the resource's pattern; for
child_type the parent's pattern), the rest of the request plausible and in `default`,
and sent with a token limited to `default`: it must be refused with
PERMISSION_DENIED / WORKSPACE_NOT_ALLOWED. The same request naming `default` instead
must not be refused. The resource types exercised must be every resource type of the
contracts, so a new resource type or RPC is covered or this fails.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from ._contract import Contract, Reference, contract, fill_pattern, parent_pattern, set_path
from ._fuzz import Factory, dump
from ._suite import CallResult, Suite, call, full_method, start_suite
from .conftest import BRAND_B_ONLY, DEFAULT_ONLY, ROOT, TOKENS, WORKSPACES

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALLOWED = "default"
FOREIGN = "brand-b"


@dataclass
class Probe:
    method: MethodDescriptor
    reference: Reference
    pattern: str
    foreign_request: Message
    control_request: Message
    foreign: CallResult | None = None
    control: CallResult | None = None

    @property
    def label(self) -> str:
        kind = (
            f"type {self.reference.type}"
            if self.reference.type
            else (f"child_type {self.reference.child_type}")
        )
        return f"{full_method(self.method)} {self.reference.dotted} ({kind}, {self.pattern})"


def _target_patterns(the_contract: Contract, ref: Reference) -> list[str] | None:
    types = the_contract.resource_types
    if ref.type:
        return list(types[ref.type].patterns) if ref.type in types else None
    if ref.child_type in types:
        return [parent_pattern(p) for p in types[ref.child_type].patterns]
    return None


def _probes(the_contract: Contract) -> tuple[list[Probe], list[str]]:
    factory = Factory(the_contract)
    probes: list[Probe] = []
    unresolved: list[str] = []
    for method in the_contract.methods:
        for ref in the_contract.references(method.input_type):
            patterns = _target_patterns(the_contract, ref)
            if not patterns:
                unresolved.append(
                    f"{full_method(method)} {ref.dotted}: no resource type "
                    f"{ref.type or ref.child_type!r} in the contracts"
                )
                continue
            for pattern in patterns:
                rng = random.Random(f"isolation/{method.full_name}/{ref.dotted}/{pattern}")
                base = factory.plausible_message(rng, method.input_type)
                foreign = type(base)()
                foreign.CopyFrom(base)
                set_path(foreign, ref.path, fill_pattern(pattern, FOREIGN))
                control = type(base)()
                control.CopyFrom(base)
                set_path(control, ref.path, fill_pattern(pattern, ALLOWED))
                probes.append(Probe(method, ref, pattern, foreign, control))
    return probes, unresolved


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def suite(tmp_path_factory: pytest.TempPathFactory):
    async with start_suite(
        tmp_path_factory.mktemp("isolation"),
        workspaces=WORKSPACES,
        auth_tokens=TOKENS,
        outbound_token=ROOT,
    ) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probed(suite: Suite) -> tuple[list[Probe], list[str]]:
    the_contract = contract()
    probes, unresolved = _probes(the_contract)
    for probe in probes:
        channel = suite.channel(the_contract.owner(probe.method))
        probe.foreign = await call(channel, probe.method, probe.foreign_request, token=DEFAULT_ONLY)
        probe.control = await call(channel, probe.method, probe.control_request, token=DEFAULT_ONLY)
    return probes, unresolved


async def test_a_resource_named_in_another_workspace_is_refused(probed):
    probes, _ = probed
    assert probes
    let_through = []
    for probe in probes:
        result = probe.foreign
        assert result is not None
        refused = (
            result.code == grpc.StatusCode.PERMISSION_DENIED
            and result.info is not None
            and result.info.reason == "WORKSPACE_NOT_ALLOWED"
            and result.info.metadata.get("workspace") == FOREIGN
        )
        if not refused:
            let_through.append(
                f"{probe.label}: {result.describe()}\n"
                f"    request: {dump(probe.foreign_request, probe.method.input_type)}"
            )
    assert not let_through, (
        f"{len(let_through)} requests naming workspaces/{FOREIGN} were not refused "
        f"(PERMISSION_DENIED, WORKSPACE_NOT_ALLOWED) for a token limited to {ALLOWED}:\n"
        + "\n".join(let_through)
    )


async def test_the_same_request_in_the_allowed_workspace_is_not_refused(probed):
    probes, _ = probed
    refused = []
    for probe in probes:
        result = probe.control
        assert result is not None
        if result.code == grpc.StatusCode.PERMISSION_DENIED:
            refused.append(
                f"{probe.label}: {result.describe()}\n"
                f"    request: {dump(probe.control_request, probe.method.input_type)}"
            )
    assert not refused, (
        f"{len(refused)} requests in workspaces/{ALLOWED} were refused to a token allowed "
        f"there:\n" + "\n".join(refused)
    )


async def test_every_resource_type_of_the_contracts_is_exercised(probed):
    probes, unresolved = probed
    the_contract = contract()
    all_types = set(the_contract.resource_types)
    exercised = {probe.reference.resource_type for probe in probes}
    problems = list(unresolved)
    if exercised != all_types:
        if all_types - exercised:
            problems.append(
                "resource types no request field names (isolation untested): "
                f"{sorted(all_types - exercised)}"
            )
        if exercised - all_types:
            undeclared = sorted(exercised - all_types)
            problems.append(f"references to undeclared resource types: {undeclared}")
    assert not problems, "\n".join(problems)


async def test_every_rpc_names_a_resource(probed):
    """An RPC whose request names no resource escapes workspace-limited tokens entirely."""
    probes, _ = probed
    covered = {full_method(p.method) for p in probes}
    blind = [full_method(m) for m in contract().methods if full_method(m) not in covered]
    assert not blind, f"RPCs whose requests name no resource (no workspace to check): {blind}"


async def test_data_in_another_workspace_stays_out_of_reach(suite_factory):
    """End to end: a brand-b customer and its consent, then a default-only token asks."""
    async with suite_factory(
        workspaces=WORKSPACES, auth_tokens=TOKENS, outbound_token=ROOT
    ) as fresh_suite:
        await _data_in_another_workspace_stays_out_of_reach(fresh_suite)


async def _data_in_another_workspace_stays_out_of_reach(suite: Suite) -> None:
    identity = suite.modules["identity"].pb2
    consent = suite.modules["consent"].pb2
    the_contract = contract()
    methods = {(the_contract.owner(m), m.name): m for m in the_contract.methods}

    async def rpc(service: str, name: str, request: Message, token: str) -> CallResult:
        return await call(suite.channel(service), methods[(service, name)], request, token=token)

    resolved = await rpc(
        "identity",
        "Resolve",
        identity.ResolveRequest(
            parent=f"workspaces/{FOREIGN}",
            identifiers=[{"type": "email", "value": "eve@brand-b.example"}],
        ),
        BRAND_B_ONLY,
    )
    assert resolved.ok, resolved.describe()
    customer = resolved.responses[0].customer.name
    assert customer.startswith(f"workspaces/{FOREIGN}/customers/")

    record_fields = consent.ConsentRecord.DESCRIPTOR.fields_by_name
    recorded = await rpc(
        "consent",
        "RecordConsent",
        consent.RecordConsentRequest(
            parent=customer,
            record=consent.ConsentRecord(
                purpose="marketing",
                channel=record_fields["channel"].enum_type.values_by_name["CHANNEL_EMAIL"].number,
                state=consent.CONSENT_STATE_GRANTED,
                source="web_form",
            ),
        ),
        BRAND_B_ONLY,
    )
    assert recorded.ok, recorded.describe()

    # The owner of the workspace sees both.
    own_customer = await rpc(
        "identity", "GetCustomer", identity.GetCustomerRequest(name=customer), BRAND_B_ONLY
    )
    assert own_customer.ok and own_customer.responses[0].name == customer, own_customer.describe()
    own_records = await rpc(
        "consent",
        "ListConsentRecords",
        consent.ListConsentRecordsRequest(parent=customer),
        BRAND_B_ONLY,
    )
    assert own_records.ok and len(own_records.responses[0].consent_records) == 1, (
        own_records.describe()
    )

    # A token limited to default sees neither.
    for service, name, request in (
        ("identity", "GetCustomer", identity.GetCustomerRequest(name=customer)),
        ("consent", "ListConsentRecords", consent.ListConsentRecordsRequest(parent=customer)),
    ):
        result = await rpc(service, name, request, DEFAULT_ONLY)
        assert result.code == grpc.StatusCode.PERMISSION_DENIED, f"{name}: {result.describe()}"
        assert result.info is not None and result.info.reason == "WORKSPACE_NOT_ALLOWED", (
            f"{name}: {result.describe()}"
        )
        assert not result.responses


async def test_probes_differ_from_their_controls_only_by_the_workspace(probed):
    """Harness check: the foreign request names brand-b, its control does not."""
    probes, _ = probed
    for probe in probes:
        foreign = probe.foreign_request.SerializeToString(deterministic=True)
        control = probe.control_request.SerializeToString(deterministic=True)
        assert f"workspaces/{FOREIGN}".encode() in foreign, probe.label
        assert f"workspaces/{FOREIGN}".encode() not in control, probe.label
        assert len(foreign) == len(control), probe.label  # same-length workspace ids
