"""Authorization is default-deny: every RPC of every contract must be in its service's
policy (``ServiceParts.method_scopes``), and an RPC left out is refused to any token.

The RPCs are read from the generated descriptors, so a new RPC without a scope fails
here (naming it) instead of being silently unusable in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import grpc
import pytest
from rapport.grpcserver import RunningServer, ServiceParts, start

from ._suite import (
    ServiceModules,
    all_service_modules,
    call,
    full_method,
    message_class,
    settings_for,
)
from .conftest import ROOT, TOKENS

SERVICES = all_service_modules()


def _settings(modules: ServiceModules, tmp_path: Path, auth: bool):
    # Services it calls are never reached here: any address will do.
    addresses = {
        name: "127.0.0.1:9"
        for name in ("identity", "profile", "consent", "decisioning", "delivery")
    }
    return settings_for(
        modules,
        tmp_path,
        addresses,
        workspaces=["default"],
        auth_tokens=TOKENS if auth else None,
        outbound_token=ROOT if auth else None,
        smtp_port=9,
    )


async def _close(parts: ServiceParts) -> None:
    for hook in parts.on_close:
        with suppress(Exception):
            await hook()


@asynccontextmanager
async def _serving(parts: ServiceParts, settings) -> AsyncIterator[RunningServer]:
    try:
        server = await start(parts, settings)
    except BaseException:
        await _close(parts)
        raise
    try:
        yield server
    finally:
        await server.stop(grace=0, drain=0)


@pytest.mark.parametrize("modules", SERVICES, ids=lambda m: m.name)
async def test_every_rpc_of_the_contract_has_a_scope(modules: ServiceModules, tmp_path: Path):
    parts = await modules.build(_settings(modules, tmp_path, auth=False))
    await _close(parts)
    rpcs = {full_method(m) for m in modules.methods}
    policy = dict(parts.method_scopes)

    missing = sorted(rpcs - set(policy))
    unknown = sorted(set(policy) - rpcs)
    blank = sorted(m for m, scope in policy.items() if not isinstance(scope, str) or not scope)
    problems = []
    if missing:
        problems.append(
            f"RPCs of the contract missing from method_scopes (refused to every token): {missing}"
        )
    if unknown:
        problems.append(f"method_scopes entries naming no RPC of the contract: {unknown}")
    if blank:
        problems.append(f"method_scopes entries without a scope: {blank}")
    assert not problems, f"{modules.name}: " + "; ".join(problems)


def _unary(methods):
    return [m for m in methods if not m.server_streaming and not m.client_streaming]


@pytest.mark.parametrize("modules", SERVICES, ids=lambda m: m.name)
async def test_an_rpc_left_out_of_the_policy_is_refused_whatever_the_token(
    modules: ServiceModules, tmp_path: Path
):
    settings = _settings(modules, tmp_path, auth=True)
    parts = await modules.build(settings)
    in_policy = [m for m in modules.methods if full_method(m) in parts.method_scopes]
    if not in_policy:
        await _close(parts)
        pytest.fail(f"{modules.name}: no RPC of the contract is in method_scopes")
    removed = (_unary(in_policy) or in_policy)[0]
    parts.method_scopes = {
        name: scope for name, scope in parts.method_scopes.items() if name != full_method(removed)
    }

    async with (
        _serving(parts, settings) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        refused = await call(channel, removed, message_class(removed.input_type)(), token=ROOT)
        assert refused.code == grpc.StatusCode.PERMISSION_DENIED, (
            f"{full_method(removed)} is not in the policy, yet a token with scope '*' got "
            f"{refused.describe()}"
        )
        assert refused.info is not None and refused.info.reason == "METHOD_NOT_IN_POLICY", (
            refused.describe()
        )
        assert refused.info.metadata.get("method") == full_method(removed)

        # Only that one: the others still let the same token through.
        wrongly_refused = []
        for method in in_policy:
            if method.full_name == removed.full_name:
                continue
            result = await call(channel, method, message_class(method.input_type)(), token=ROOT)
            if result.info is not None and result.info.reason in (
                "METHOD_NOT_IN_POLICY",
                "MISSING_SCOPE",
            ):
                wrongly_refused.append(f"{full_method(method)}: {result.describe()}")
        assert not wrongly_refused, wrongly_refused


@pytest.mark.parametrize("modules", SERVICES, ids=lambda m: m.name)
async def test_with_an_empty_policy_every_rpc_is_refused(modules: ServiceModules, tmp_path: Path):
    settings = _settings(modules, tmp_path, auth=True)
    parts = await modules.build(settings)
    parts.method_scopes = {}
    async with (
        _serving(parts, settings) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        let_through = []
        for method in modules.methods:
            result = await call(channel, method, message_class(method.input_type)(), token=ROOT)
            if not (
                result.code == grpc.StatusCode.PERMISSION_DENIED
                and result.info is not None
                and result.info.reason == "METHOD_NOT_IN_POLICY"
            ):
                let_through.append(f"{full_method(method)}: {result.describe()}")
        assert not let_through, f"RPCs not refused by default: {let_through}"
