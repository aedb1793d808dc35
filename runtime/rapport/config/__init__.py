"""Typed service settings read from the environment (one prefix per service)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    """Settings shared by every service.

    Subclasses set ``model_config = SettingsConfigDict(env_prefix="RAPPORT_<SERVICE>_")``
    and override the ``service_name`` and ``port`` defaults. Complex fields
    (``auth_tokens``) are read from the environment as JSON.
    """

    # Subclass configs are merged with this one, so extra="ignore" is inherited.
    model_config = SettingsConfigDict(env_prefix="RAPPORT_", extra="ignore")

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path = Path(".data")
    database_url: str | None = None
    database_schema: str | None = None
    redis_url: str | None = None
    max_message_bytes: int = 4 * 1024 * 1024
    grace_seconds: float = 5.0
    default_deadline_seconds: float = 10.0
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    tracing_exporter: Literal["none", "console", "otlp"] = "none"
    otlp_endpoint: str | None = None
    auth_tokens: dict[str, list[str]] = {}
    auth_tokens_file: Path | None = None
    outbound_token: str | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # CA bundle to verify the servers this service calls; set => outbound TLS
    # (and mTLS with tls_cert_file/tls_key_file as the client certificate).
    outbound_tls_ca_file: Path | None = None

    @model_validator(mode="after")
    def _merge_auth_tokens_file(self) -> ServiceSettings:
        # Merge once at load time so every consumer sees one mapping.
        if self.auth_tokens_file is not None:
            merged = {token: list(scopes) for token, scopes in self.auth_tokens.items()}
            for token, scopes in _read_token_file(self.auth_tokens_file).items():
                existing = merged.setdefault(token, [])
                existing.extend(s for s in scopes if s not in existing)
            self.auth_tokens = merged
        return self

    def database_url_or_default(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / f'{self.service_name}.db'}"


def _read_token_file(path: Path) -> dict[str, list[str]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml  # only needed when a YAML file is configured

        data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
        for k, v in data.items()
    ):
        raise ValueError(f"{path}: expected a mapping of token -> list of scopes")
    return data
