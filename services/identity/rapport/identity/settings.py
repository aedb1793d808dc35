"""Settings of the identity service, read from RAPPORT_IDENTITY_* environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_IDENTITY_")

    service_name: str = "identity"
    port: int = 50051
    workspaces: list[str] = ["default"]
    # Types accepted in Identifier.type; anything else is refused.
    identifier_types: list[str] = ["user_id", "email", "phone", "anonymous_id", "device_id"]
    # Region assumed for phone numbers written without an international prefix.
    default_phone_region: str = "US"
