"""Settings of the decisioning service (environment variables RAPPORT_DECISIONING_*)."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings


class DecisioningSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_DECISIONING_")

    service_name: str = "decisioning"
    port: int = 50054
    profile_address: str = "127.0.0.1:50052"
    consent_address: str = "127.0.0.1:50053"
    delivery_address: str = "127.0.0.1:50055"
    # A YAML configuration applied at start-up when its content changed since the last
    # start: its items created or replaced in the live version (published as a new
    # version) and in the draft, unpublished draft edits kept in the draft; the same
    # file again changes nothing (service_layer/config_io.py has the whole rule). A file
    # that cannot be applied stops the start-up, naming the file, the workspace and the
    # place: invalid, or a segment trigger whose segment profile does not have (naming the
    # trigger and the segment). When profile cannot be reached to confirm those segments,
    # the service starts anyway (as it does without any peer), deciding with the live
    # version, and applies the file once profile answers (retried as the trigger runner
    # retries, trigger_backoff_*); refused then, it is logged as an error and left
    # unapplied until the next start.
    catalogue_file: Path | None = None
    # Run the trigger runner (profile signals -> sends) in this process.
    triggers_enabled: bool = True
    trigger_backoff_initial_seconds: float = 0.2
    trigger_backoff_max_seconds: float = 5.0
    # With triggers_enabled: how often due time-window triggers are looked for.
    trigger_schedule_poll_seconds: float = Field(default=5.0, gt=0)
    # How long a replica holds the due time-window firings it claimed.
    trigger_schedule_lease_seconds: float = Field(default=300.0, gt=0, le=86400)
    # Time-window triggers fire at this local time of the day ("09:00"), on the clock
    # of the zone the profile trait `time_zone_trait` names, else `default_time_zone`
    # (an unknown zone name means UTC). Decisions' rules see the same customer clock
    # (context.local_time, date helpers) unless Decide names a time_zone.
    time_window_fire_time: time = time(9)
    # A firing found due more than this long after its local fire time (the date trait
    # came when the window was already open, the service was down) waits for the next
    # local fire time, or is dropped (TOO_LATE) when the window ends before it; 86400:
    # sent whenever found on its day (domain/schedule.py).
    time_window_late_after_seconds: float = Field(default=3600.0, gt=0, le=86400)
    # The same trait delivery reads for quiet hours (Segment's `timezone`).
    time_zone_trait: str = "timezone"
    default_time_zone: str = "UTC"
    # How long a replica may keep deciding with a configuration version after another
    # replica published a newer one (the publishing replica switches at once).
    config_refresh_seconds: float = Field(default=1.0, ge=0)
    # How long a replica may score with models (and their posteriors) after another
    # replica changed a model or learnt from an outcome; this replica's own model
    # changes apply at once.
    model_refresh_seconds: float = Field(default=1.0, ge=0)
    # Decide keeps a profile read from profile for up to this long while this process
    # follows profile's signals (a signal of the customer drops it at once; a broken
    # stream drops them all until followed again). 0: ask profile on every Decide.
    profile_cache_seconds: float = Field(default=0.0, ge=0, le=300)
    # With redis_url: contacts counted against the contact limits live in Redis (shared
    # by the replicas) under this prefix; without, in the database.
    redis_key_prefix: str = "rapport:decisioning:"
    redis_timeout_seconds: float = Field(default=0.5, gt=0)
    # Trigger activities (what each trigger did for each customer: sent, skipped, failed,
    # and why) are kept this long (seconds, or ISO 8601 such as P30D), then pruned by a
    # background job every `trigger_activity_prune_seconds`, in short batches.
    trigger_activity_retention: timedelta = Field(default=timedelta(days=30), gt=timedelta(0))
    trigger_activity_prune_seconds: float = Field(default=3600.0, gt=0)
