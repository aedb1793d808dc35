"""Settings of the profile service (environment prefix RAPPORT_PROFILE_).

The workspaces served are the suite-wide ``workspaces`` of ServiceSettings.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings
from rapport.profile.domain.ingestion import (
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    MAX_STRUCT_DEPTH,
    IngestLimits,
)
from rapport.profile.service_layer.dependencies import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_LIST_PAGE_MAX_BYTES,
)


class ProfileSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_PROFILE_")

    service_name: str = "profile"
    port: int = 50052
    identity_address: str = "127.0.0.1:50051"
    # WatchSignals: rows read per query, and how often to look for other replicas' commits.
    signal_batch_size: int = Field(default=500, ge=1)
    signal_poll_seconds: float = 0.5
    # IngestEvents limits (Segment's), checked before anything is stored: the serialized
    # size of one Event and of the whole IngestEventsRequest, and how deep the Structs
    # properties, traits and context may nest (protobuf itself decodes 33 levels at most).
    max_event_bytes: int = Field(default=MAX_EVENT_BYTES, ge=1)
    max_batch_bytes: int = Field(default=MAX_BATCH_BYTES, ge=1)
    max_struct_depth: int = Field(default=MAX_STRUCT_DEPTH, ge=1, le=MAX_STRUCT_DEPTH)
    # ListEvents: a page also ends before its response would exceed this many bytes.
    list_page_max_bytes: int = Field(default=DEFAULT_LIST_PAGE_MAX_BYTES, ge=1)
    # A message id replayed within this window is a DUPLICATE (seconds or ISO 8601, e.g.
    # P7D); older message ids are pruned every dedup_prune_interval, in chunks of rows.
    dedup_window: timedelta = Field(default=DEFAULT_DEDUP_WINDOW, gt=timedelta(0))
    dedup_prune_interval: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))
    dedup_prune_chunk: int = Field(default=5000, ge=1)
    # GetProfile cache: in Redis when redis_url is set (shared by replicas), in-process on
    # SQLite, none on PostgreSQL without Redis. The TTL bounds how long a replica could
    # serve a stale profile if a write's invalidation failed.
    cache_ttl_seconds: float = Field(default=300.0, gt=0)
    cache_max_entries: int = Field(default=100_000, ge=1)  # in-process cache only
    cache_key_prefix: str = "rapport:profile:"
    redis_timeout_seconds: float = Field(default=0.25, gt=0)

    def ingest_limits(self) -> IngestLimits:
        return IngestLimits(self.max_event_bytes, self.max_batch_bytes, self.max_struct_depth)

    @model_validator(mode="after")
    def _pages_fit_in_a_message(self) -> ProfileSettings:
        if self.list_page_max_bytes >= self.max_message_bytes:
            raise ValueError("list_page_max_bytes must be below max_message_bytes")
        return self
