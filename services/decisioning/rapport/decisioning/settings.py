"""Settings of the decisioning service (environment variables RAPPORT_DECISIONING_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings


class DecisioningSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_DECISIONING_")

    service_name: str = "decisioning"
    port: int = 50054
    profile_address: str = "127.0.0.1:50052"
    consent_address: str = "127.0.0.1:50053"
    delivery_address: str = "127.0.0.1:50055"
    # Actions and triggers created or replaced at start-up (YAML).
    catalogue_file: Path | None = None
    # Run the trigger runner (profile signals -> sends) in this process.
    triggers_enabled: bool = True
    trigger_backoff_initial_seconds: float = 0.2
    trigger_backoff_max_seconds: float = 5.0
