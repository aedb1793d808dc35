"""Settings of the profile service (environment prefix RAPPORT_PROFILE_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings


class ProfileSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_PROFILE_")

    service_name: str = "profile"
    port: int = 50052
    workspaces: list[str] = ["default"]
    identity_address: str = "127.0.0.1:50051"
    # WatchSignals: rows read per query, and how often to look for other replicas' commits.
    signal_batch_size: int = 500
    signal_poll_seconds: float = 0.5
