"""Bearer tokens, default-deny method scopes and workspace-scoped tokens."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import grpc
from rapport.config import TokenGrant
from rapport.errors import (
    PermissionDenied,
    RapportError,
    Unauthenticated,
)

from ._status import to_grpc_status
from ._workspaces import named_workspaces
from ._wrapping import (
    OPEN_SERVICE_PREFIXES,
    Continuation,
    wrap_handler,
)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Bearer tokens with scopes and workspaces; default deny; health and reflection open.

    A method missing from ``method_scopes`` is refused whatever the token. A
    token limited to some workspaces may only send requests whose names
    (``named_workspaces``) stay in them. Tokens are looked up by SHA-256 digest
    so the lookup time does not depend on how much of a guessed token matches.
    """

    def __init__(
        self,
        tokens: Mapping[str, TokenGrant | list[str]],
        method_scopes: Mapping[str, str],
        domain: str,
    ) -> None:
        self._grants = {
            _digest(t): g if isinstance(g, TokenGrant) else TokenGrant(frozenset(g))
            for t, g in tokens.items()
        }
        self._method_scopes = dict(method_scopes)
        self._domain = domain

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_SERVICE_PREFIXES):
            return handler
        grant = self._authorize(method, details.invocation_metadata or ())
        if isinstance(grant, RapportError):
            status = to_grpc_status(grant, self._domain)

            @asynccontextmanager
            async def reject(context: grpc.aio.ServicerContext, _m: str) -> AsyncIterator[None]:
                await context.abort_with_status(status)
                yield  # pragma: no cover - abort always raises

            return wrap_handler(handler, method, reject)
        if grant.all_workspaces:
            return handler  # nothing to check per request

        async def check_workspaces(request: Any, context: grpc.aio.ServicerContext) -> None:
            outside = named_workspaces(request) - grant.workspaces
            if outside:
                workspace = min(outside)
                error = PermissionDenied(
                    "WORKSPACE_NOT_ALLOWED",
                    f"token is not allowed in workspaces/{workspace}",
                    {"workspace": workspace, "method": method},
                )
                await context.abort_with_status(to_grpc_status(error, self._domain))

        return wrap_handler(handler, method, on_request=check_workspaces)

    def _authorize(self, method: str, metadata: Any) -> TokenGrant | RapportError:
        header = next((m[1] for m in metadata if m[0] == "authorization"), None)
        if not isinstance(header, str):
            return Unauthenticated("MISSING_TOKEN", "missing bearer token")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Unauthenticated("MISSING_TOKEN", "authorization must be 'Bearer <token>'")
        grant = self._grants.get(_digest(token.strip()))
        if grant is None:
            return Unauthenticated("INVALID_TOKEN", "unknown bearer token")
        needed = self._method_scopes.get(method)
        if needed is None:
            # Default deny: a method nobody classified is open to no one.
            return PermissionDenied(
                "METHOD_NOT_IN_POLICY", f"{method} is not open to any token", {"method": method}
            )
        if grant.has_scope(needed):
            return grant
        return PermissionDenied(
            "MISSING_SCOPE",
            f"token lacks scope {needed!r}",
            {"scope": needed, "method": method},
        )
