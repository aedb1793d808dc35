from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_IDENTITY_")

    service_name: str = "identity"
    port: int = 50051


def test_defaults() -> None:
    settings = IdentitySettings()
    assert (settings.service_name, settings.port, settings.host) == ("identity", 50051, "127.0.0.1")
    assert settings.auth_tokens == {}
    assert settings.database_url_or_default() == "sqlite+aiosqlite:///.data/identity.db"


def test_env_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAPPORT_IDENTITY_PORT", "6000")
    monkeypatch.setenv("RAPPORT_IDENTITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RAPPORT_IDENTITY_LOG_FORMAT", "text")
    monkeypatch.setenv(
        "RAPPORT_IDENTITY_AUTH_TOKENS", '{"s3cret": ["identity.read", "identity.write"]}'
    )
    monkeypatch.setenv("RAPPORT_PROFILE_PORT", "7000")  # another service's: ignored
    settings = IdentitySettings()
    assert settings.port == 6000
    assert settings.log_format == "text"
    assert settings.auth_tokens == {"s3cret": ["identity.read", "identity.write"]}
    assert settings.database_url_or_default() == f"sqlite+aiosqlite:///{tmp_path}/identity.db"


def test_explicit_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_IDENTITY_DATABASE_URL", "postgresql://db/rapport")
    assert IdentitySettings().database_url_or_default() == "postgresql://db/rapport"


def test_invalid_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_IDENTITY_TRACING_EXPORTER", "zipkin")
    with pytest.raises(ValueError):
        IdentitySettings()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_auth_tokens_file_is_merged(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tokens{suffix}"
    mapping = {"a": ["identity.read"], "b": ["*"]}
    if suffix == ".json":
        path.write_text(json.dumps(mapping))
    else:
        path.write_text("a: [identity.read]\nb: ['*']\n")
    settings = IdentitySettings(auth_tokens={"a": ["identity.write"]}, auth_tokens_file=path)
    assert settings.auth_tokens == {"a": ["identity.write", "identity.read"], "b": ["*"]}
