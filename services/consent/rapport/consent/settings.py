"""Consent service settings (environment prefix RAPPORT_CONSENT_)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings


class ConsentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_CONSENT_")

    service_name: str = "consent"
    port: int = 50053
    # Current-state cache. With Redis (redis_url) it is shared by the replicas; the TTL
    # bounds how long a replica could be wrong if a write's invalidation failed.
    cache_ttl_seconds: float = 60.0
    cache_max_entries: int = 100_000  # in-process cache (SQLite) only
    cache_key_prefix: str = "rapport:consent:"
    redis_timeout_seconds: float = 0.25
    # WatchConsentRecords looks for other replicas' commits this often.
    watch_poll_seconds: float = 1.0
    # Identity's address ("" = not followed): consent follows its WatchChanges so that a
    # merged customer's decisions answer for the survivor (and an unmerge splits them
    # back); the cursor is stored in consent's database.
    identity_address: str = ""
    # Backoff (seconds) while identity, the database or the cache is away.
    identity_follow_min_backoff_seconds: float = Field(default=0.2, gt=0)
    identity_follow_max_backoff_seconds: float = Field(default=30.0, gt=0)

    # Data subject requests (access, erasure) run one step per service whose address is
    # set ("" = that service is not part of this deployment: no step for it);
    # identity_address above counts too.
    profile_address: str = ""
    decisioning_address: str = ""
    delivery_address: str = ""
    # The worker looks for due steps this often (a new request wakes it at once).
    subject_request_poll_seconds: float = Field(default=1.0, gt=0)
    # A replica claims a request for this long; killed meanwhile, another resumes after.
    subject_request_lease_seconds: float = Field(default=300.0, gt=0)
    # Each call to a service (one export page, one erasure).
    subject_request_call_deadline_seconds: float = Field(default=30.0, gt=0)
    # A failed step waits between these bounds (exponential, full jitter), forever.
    subject_request_min_backoff_seconds: float = Field(default=1.0, gt=0)
    subject_request_max_backoff_seconds: float = Field(default=600.0, gt=0)
    # What an access request found is deleted this long after it completed.
    subject_request_access_retention_seconds: float = Field(default=30 * 86400.0, gt=0)

    @model_validator(mode="after")
    def _subject_request_bounds(self) -> ConsentSettings:
        if self.subject_request_max_backoff_seconds < self.subject_request_min_backoff_seconds:
            raise ValueError(
                "subject_request_max_backoff_seconds must not be below "
                "subject_request_min_backoff_seconds"
            )
        # A step (several calls) must end well within its lease, or a second replica
        # could take the request over while the first still works on it.
        if self.subject_request_lease_seconds < 2 * self.subject_request_call_deadline_seconds:
            raise ValueError(
                "subject_request_lease_seconds must be at least twice "
                "subject_request_call_deadline_seconds"
            )
        return self
