"""Advisory lock keys (rapport.sqlstore.advisory_key) are those earlier releases took:
replicas of both releases serialise on the same locks during a rolling upgrade."""

from __future__ import annotations

from rapport.identity.adapters.deduplication_repository import job_lock_key
from rapport.identity.adapters.lifecycle_repository import CHANGE_LOG_LOCK_KEY
from rapport.identity.adapters.repository import identifier_lock_key
from rapport.identity.domain.model import Identifier


def test_lock_keys_are_unchanged() -> None:
    email = Identifier("email", "ann@example.com")
    assert identifier_lock_key("default", email) == -2544549320930493828
    assert CHANGE_LOG_LOCK_KEY == -3290755172530567648
    assert job_lock_key("default") == -4538243032157616977
