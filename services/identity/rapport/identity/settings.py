"""Settings of the identity service, read from RAPPORT_IDENTITY_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_IDENTITY_")

    service_name: str = "identity"
    port: int = 50051
    # Identity rules of workspaces that never stored their own (UpdateIdentityRules):
    # None means the defaults shipped in rapport/identity/default_rules.yaml.
    default_rules_file: Path | None = None
    # Region assumed for phone numbers written without an international prefix (phone
    # rules that name no region of their own).
    default_phone_region: str = "US"
    # Identifier -> customer cache: shared in Redis when redis_url is set, in-process on
    # SQLite, none on PostgreSQL without Redis. The TTL bounds how long a replica could
    # be wrong if a write's invalidation failed.
    cache_ttl_seconds: float = 300.0
    cache_max_entries: int = 100_000  # in-process cache (SQLite) only
    cache_key_prefix: str = "rapport:identity:"
    redis_timeout_seconds: float = 0.25
    # WatchChanges: rows read per query, and how often to look for other replicas' commits.
    # (A stored change whose response would not fit in max_message_bytes is skipped.)
    watch_batch_size: int = 500
    watch_poll_seconds: float = 0.5
