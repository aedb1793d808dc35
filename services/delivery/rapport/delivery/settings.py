"""Delivery settings, read from RAPPORT_DELIVERY_* environment variables."""

from __future__ import annotations

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings


class DeliverySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_DELIVERY_")

    service_name: str = "delivery"
    port: int = 50055

    profile_address: str = "127.0.0.1:50052"
    consent_address: str = "127.0.0.1:50053"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_timeout_seconds: float = 10.0
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # None: STARTTLS when the server offers it; True: required; False: never.
    smtp_start_tls: bool | None = None
    email_from: str = "Rapport <no-reply@rapport.local>"

    max_attempts: int = 8
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    dispatch_poll_seconds: float = 0.5
    dispatcher_enabled: bool = True
    # Messages in flight at once per replica: one slow provider call never stalls the rest.
    dispatch_concurrency: int = 8
    # One attempt (profile, consent, provider) is cut off after this long...
    attempt_timeout_seconds: float = 60.0
    # ...and its claim lasts longer, so no other replica takes the message meanwhile.
    lease_seconds: float = 120.0

    @model_validator(mode="after")
    def _lease_outlives_attempt(self) -> DeliverySettings:
        if self.lease_seconds <= self.attempt_timeout_seconds:
            raise ValueError("lease_seconds must be greater than attempt_timeout_seconds")
        if self.max_attempts < 1 or self.dispatch_concurrency < 1:
            raise ValueError("max_attempts and dispatch_concurrency must be at least 1")
        return self
