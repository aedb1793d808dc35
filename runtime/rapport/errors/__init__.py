"""Domain-level errors that the gRPC runtime maps to ``google.rpc.Status``.

Pure Python on purpose: the domain and service layers raise these without
knowing about gRPC. ``code`` is the gRPC status code *name* so the runtime can
translate it without this package importing grpc.
"""

from __future__ import annotations

__all__ = [
    "Aborted",
    "AlreadyExists",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "RapportError",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
]


class RapportError(Exception):
    """Base class: a gRPC code name, an UPPER_SNAKE reason, a description, metadata."""

    code: str = "UNKNOWN"

    def __init__(
        self,
        reason: str,
        description: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.reason = reason
        self.description = description
        # ErrorInfo.metadata is map<string,string>: coerce now so mapping never fails later.
        self.metadata: dict[str, str] = {str(k): str(v) for k, v in (metadata or {}).items()}
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The human-readable text put in ``google.rpc.Status.message``."""
        return self.description

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, description={self.description!r})"


class InvalidArgument(RapportError):
    code = "INVALID_ARGUMENT"

    def __init__(self, field: str, description: str, reason: str = "INVALID_ARGUMENT") -> None:
        self.field = field
        super().__init__(reason, description, {"field": field})

    @property
    def message(self) -> str:
        return f"{self.field}: {self.description}" if self.field else self.description


class NotFound(RapportError):
    code = "NOT_FOUND"

    def __init__(
        self, resource: str, description: str | None = None, reason: str = "NOT_FOUND"
    ) -> None:
        self.resource = resource
        super().__init__(reason, description or f"{resource} not found", {"resource": resource})


class AlreadyExists(RapportError):
    code = "ALREADY_EXISTS"

    def __init__(
        self, resource: str, description: str | None = None, reason: str = "ALREADY_EXISTS"
    ) -> None:
        self.resource = resource
        super().__init__(
            reason, description or f"{resource} already exists", {"resource": resource}
        )


class FailedPrecondition(RapportError):
    code = "FAILED_PRECONDITION"


class Aborted(RapportError):
    code = "ABORTED"


class Unavailable(RapportError):
    code = "UNAVAILABLE"


class PermissionDenied(RapportError):
    code = "PERMISSION_DENIED"


class Unauthenticated(RapportError):
    code = "UNAUTHENTICATED"


class ResourceExhausted(RapportError):
    # Not in the original list; frequency caps and rate limits need it.
    code = "RESOURCE_EXHAUSTED"
