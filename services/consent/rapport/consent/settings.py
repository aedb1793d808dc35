"""Consent service settings (environment prefix RAPPORT_CONSENT_)."""

from __future__ import annotations

from pydantic import Field
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
