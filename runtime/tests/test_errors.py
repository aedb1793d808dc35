from __future__ import annotations

from rapport.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RapportError,
)


def test_invalid_argument() -> None:
    err = InvalidArgument("identifiers[0].value", "must not be empty")
    assert isinstance(err, RapportError)
    assert (err.code, err.reason, err.metadata) == (
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        {"field": "identifiers[0].value"},
    )
    assert str(err) == "identifiers[0].value: must not be empty"


def test_not_found_and_already_exists_default_descriptions() -> None:
    err = NotFound("workspaces/default/customers/x")
    assert err.code == "NOT_FOUND" and err.metadata == {
        "resource": "workspaces/default/customers/x"
    }
    assert "not found" in err.description
    assert AlreadyExists("workspaces/w", reason="WORKSPACE_EXISTS").reason == "WORKSPACE_EXISTS"


def test_reason_based_errors_coerce_metadata() -> None:
    err = FailedPrecondition("IDEMPOTENCY_KEY_REUSED", "different payload", {"attempt": 2})
    assert err.code == "FAILED_PRECONDITION" and err.metadata == {"attempt": "2"}
    assert PermissionDenied("MISSING_SCOPE", "no").metadata == {}
