"""How calls to other services fail, as seen by the service layer."""

from __future__ import annotations

import grpc
from rapport.grpcclients import error_details


class UpstreamUnavailable(Exception):
    """A call to another service failed in a way that may pass on retry.

    ``code`` is the gRPC status code name; ``reason`` the ErrorInfo reason the other
    service gave (e.g. ``SHUTTING_DOWN``), empty when it gave none.
    """

    def __init__(self, service: str, code: str, reason: str = "") -> None:
        super().__init__(f"{service} call failed: {code}")
        self.service = service
        self.code = code
        self.reason = reason

    @property
    def failure_code(self) -> str:
        """E.g. PROFILE_UNAVAILABLE, or PROFILE_UNAVAILABLE_SHUTTING_DOWN with the other
        service's ErrorInfo reason."""
        return "_".join(part for part in (self.service.upper(), self.code, self.reason) if part)


class UpstreamUnreadable(Exception):
    """Another service answered, but with data that cannot be converted (NaN, nested
    too deep...): a definite answer, asking again would get the same."""

    def __init__(self, service: str, field: str) -> None:
        super().__init__(f"{service} answered with an unreadable {field}")
        self.service = service
        self.field = field


def as_upstream_unavailable(service: str, err: grpc.aio.AioRpcError | None) -> UpstreamUnavailable:
    """Every failed call counts as transient (profile NOT_FOUND is handled before).

    Auth and argument errors too, on purpose: a misconfigured token or address is
    fixed by an operator, and until then the message waits (and is finally
    dead-lettered) rather than being sent unchecked or dropped.
    """
    if err is None:  # answered, but not what was asked
        return UpstreamUnavailable(service, "MALFORMED_ANSWER")
    code = err.code()
    info, _ = error_details(err)
    return UpstreamUnavailable(
        service,
        code.name if code is not None else "UNKNOWN",
        info.reason if info is not None else "",
    )
