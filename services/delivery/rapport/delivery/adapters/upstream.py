"""How calls to other services fail, as seen by the service layer."""

from __future__ import annotations

import grpc


class UpstreamUnavailable(Exception):
    """A call to another service failed in a way that may pass on retry."""

    def __init__(self, service: str, code: str) -> None:
        super().__init__(f"{service} call failed: {code}")
        self.service = service
        self.code = code


def as_upstream_unavailable(service: str, err: grpc.aio.AioRpcError) -> UpstreamUnavailable:
    """Every failed call counts as transient (profile NOT_FOUND is handled before).

    Auth and argument errors too, on purpose: a misconfigured token or address is
    fixed by an operator, and until then the message waits (and is finally
    dead-lettered) rather than being sent unchecked or dropped.
    """
    code = err.code()
    return UpstreamUnavailable(service, code.name if code is not None else "UNKNOWN")
