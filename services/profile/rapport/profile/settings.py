"""Settings of the profile service (environment prefix RAPPORT_PROFILE_).

The workspaces served are the suite-wide ``workspaces`` of ServiceSettings.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings
from rapport.profile.domain.ingestion import (
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    MAX_EVENT_TIME_AHEAD,
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
    # An event whose time, corrected for clock skew with its sent time, is still more
    # than this after its receive time is rejected, naming original_time (seconds or
    # ISO 8601, e.g. PT1H): it would move the profile's times into the future.
    max_event_time_ahead: timedelta = Field(default=MAX_EVENT_TIME_AHEAD, ge=timedelta(0))
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
    # Segments: rules depending on time are re-evaluated for every customer this often;
    # the evaluator works in chunks of customers (one transaction each) and looks for
    # due segments at least every segment_poll_interval.
    segment_reevaluation_interval: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    segment_chunk_size: int = Field(default=5000, ge=1, le=50_000)
    segment_poll_interval: timedelta = Field(default=timedelta(seconds=30), gt=timedelta(0))
    # Computed traits: events read per backfill transaction.
    backfill_chunk_size: int = Field(default=2000, ge=1, le=50_000)

    # Following identity's WatchChanges (merges, unmerges, erasures) per workspace.
    follow_identity: bool = True
    # Data hygiene: how often the retention/inactivity sweep runs, rows per transaction.
    hygiene_sweep_interval: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    hygiene_sweep_chunk: int = Field(default=1000, ge=1)
    # The Segment-compatible HTTP collector (/v1/batch, /v1/track...): write key ->
    # workspace, as JSON in RAPPORT_PROFILE_WRITE_KEYS or a JSON file
    # {"write_keys": {"<key>": "<workspace>"}} named by write_keys_file.
    http_port: int = 8052
    write_keys: dict[str, str] = Field(default_factory=dict)
    write_keys_file: Path | None = None
    # Beyond these the collector answers 429 with Retry-After (Segment's libraries retry
    # it): requests a second per write key (0: no limit), and requests being ingested
    # at once.
    collector_requests_per_second: float = Field(default=1000.0, ge=0, allow_inf_nan=False)
    collector_max_in_flight: int = Field(default=64, ge=1)
    # Signals relayed to NATS JetStream (with nats_url): rows per read, poll period.
    signal_relay_batch_size: int = Field(default=256, ge=1)
    signal_relay_poll_seconds: float = Field(default=1.0, gt=0)

    def collector_write_keys(self) -> dict[str, str]:
        """Write key -> workspace: the file's keys, then write_keys; each workspace served."""
        keys = dict(read_write_keys_file(self.write_keys_file)) if self.write_keys_file else {}
        keys.update(self.write_keys)
        for key, workspace in keys.items():
            if not key:
                raise ValueError("write_keys: a write key must not be empty")
            if workspace not in self.workspaces:
                raise ValueError("write_keys: a write key names a workspace not served")
        return keys

    def ingest_limits(self) -> IngestLimits:
        return IngestLimits(
            self.max_event_bytes,
            self.max_batch_bytes,
            self.max_struct_depth,
            self.max_event_time_ahead,
        )

    @model_validator(mode="after")
    def _pages_fit_in_a_message(self) -> ProfileSettings:
        if self.list_page_max_bytes >= self.max_message_bytes:
            raise ValueError("list_page_max_bytes must be below max_message_bytes")
        return self


def read_write_keys_file(path: Path) -> dict[str, str]:
    """``{"write_keys": {"<key>": "<workspace>"}}`` from a JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    keys = data.get("write_keys") if isinstance(data, dict) else None
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
    ):
        raise ValueError(f'{path}: expected {{"write_keys": {{"<key>": "<workspace>"}}}}')
    return keys
