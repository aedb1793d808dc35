from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings, TokenGrant


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
    # A list of scopes is normalised to a grant valid in every workspace.
    assert settings.auth_tokens == {
        "s3cret": TokenGrant(frozenset({"identity.read", "identity.write"}), frozenset({"*"}))
    }
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
    assert settings.auth_tokens == {
        "a": TokenGrant(frozenset({"identity.write", "identity.read"}), frozenset({"*"})),
        "b": TokenGrant(frozenset({"*"}), frozenset({"*"})),
    }


class ConsentSettings(ServiceSettings):
    """Like today's services: still redefines the base ``workspaces`` field."""

    model_config = SettingsConfigDict(env_prefix="RAPPORT_CONSENT_")

    service_name: str = "consent"
    workspaces: list[str] = ["default"]


def test_token_mapping_form_limits_workspaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RAPPORT_IDENTITY_AUTH_TOKENS",
        json.dumps(
            {
                "brand": {"scopes": ["identity.read"], "workspaces": ["brand-b", "default"]},
                "ops": {"scopes": ["*"], "workspaces": ["*"]},
            }
        ),
    )
    settings = IdentitySettings()
    brand, ops = settings.auth_tokens["brand"], settings.auth_tokens["ops"]
    assert brand == TokenGrant(frozenset({"identity.read"}), frozenset({"brand-b", "default"}))
    assert not brand.all_workspaces and brand.has_scope("identity.read")
    assert not brand.has_scope("identity.write")
    assert ops.all_workspaces and ops.has_scope("identity.write")
    with pytest.raises(dataclasses.FrozenInstanceError):
        brand.workspaces = frozenset({"*"})  # type: ignore[misc]


def test_token_file_mapping_form_merges_with_env(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "a: {scopes: [identity.read], workspaces: [brand-b]}\n"
        "c:\n  scopes: [identity.write]\n  workspaces: ['*']\n"
    )
    settings = IdentitySettings(
        auth_tokens={"a": {"scopes": ["identity.write"], "workspaces": ["default"]}},
        auth_tokens_file=path,
    )
    assert settings.auth_tokens == {
        "a": TokenGrant(
            frozenset({"identity.read", "identity.write"}), frozenset({"default", "brand-b"})
        ),
        "c": TokenGrant(frozenset({"identity.write"}), frozenset({"*"})),
    }


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ({"scopes": ["identity.read"]}, "needs both 'scopes' and 'workspaces'"),
        ({"scopes": ["x"], "workspaces": ["default"], "admin": True}, "unknown keys"),
        ({"scopes": ["x"], "workspaces": []}, "'workspaces' is empty"),
        ({"scopes": ["x"], "workspaces": ["Brand B"]}, "is not a workspace id"),
        ({"scopes": "x", "workspaces": ["*"]}, "'scopes' must be a list"),
        ({"scopes": ["x"], "workspaces": "default"}, "'workspaces' must be a list"),
        ([1, 2], "expected non-empty strings"),
        ("identity.read", "expected a list of scopes or a mapping"),
    ],
)
def test_malformed_token_config_is_refused_without_naming_the_token(
    value: object, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        IdentitySettings(auth_tokens={"pw-s3cret-token": value})
    assert "pw-s3cret-token" not in str(caught.value)


def test_malformed_token_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="expected a mapping of token -> scopes"):
        IdentitySettings(auth_tokens_file=path)
    path.write_text("a: {scopes: [x], workspaces: [UPPER]}\n")
    with pytest.raises(ValueError, match=r"tokens\.yaml entry 1: workspaces: 'UPPER'"):
        IdentitySettings(auth_tokens_file=path)
    path.write_text("a: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        IdentitySettings(auth_tokens_file=path)


def test_workspaces_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAPPORT_WORKSPACES_FILE", raising=False)
    assert IdentitySettings().workspaces == ["default"]
    assert ConsentSettings().workspaces == ["default"]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_workspaces_file_is_suite_wide(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"workspaces{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"workspaces": ["default", "brand-b"]}))
    else:
        path.write_text("workspaces:\n  - default\n  - brand-b\n")
    monkeypatch.setenv("RAPPORT_WORKSPACES_FILE", str(path))
    # The same unprefixed variable reaches every service, whether or not its
    # subclass still redefines the field.
    assert IdentitySettings().workspaces == ["default", "brand-b"]
    assert ConsentSettings().workspaces == ["default", "brand-b"]
    assert ServiceSettings().workspaces == ["default", "brand-b"]
    # Explicit values win, then the service's own variable.
    assert IdentitySettings(workspaces=["solo"]).workspaces == ["solo"]
    monkeypatch.setenv("RAPPORT_CONSENT_WORKSPACES", '["only-consent"]')
    assert ConsentSettings().workspaces == ["only-consent"]
    assert IdentitySettings().workspaces == ["default", "brand-b"]


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("workspaces: [default, Brand-B]\n", "'Brand-B' is not a workspace id"),
        ("workspaces: []\n", "non-empty list"),
        ("workspaces: [default, default]\n", "listed twice"),
        ("workspaces: default\n", "non-empty list"),
        ("- default\n", 'expected exactly {"workspaces"'),
        ("workspaces: [a]\nextra: 1\n", 'expected exactly {"workspaces"'),
        ("workspaces: [a\n", "not valid YAML"),
    ],
)
def test_bad_workspaces_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "workspaces.yaml"
    path.write_text(content)
    monkeypatch.setenv("RAPPORT_WORKSPACES_FILE", str(path))
    with pytest.raises(ValueError, match=complaint) as caught:
        IdentitySettings()
    assert "RAPPORT_WORKSPACES_FILE" in str(caught.value) and str(path) in str(caught.value)


def test_missing_workspaces_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAPPORT_WORKSPACES_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(ValueError, match="absent.json: cannot read"):
        ConsentSettings()


def test_bad_explicit_workspaces_are_refused() -> None:
    with pytest.raises(ValueError, match="is not a workspace id"):
        IdentitySettings(workspaces=["default", "../etc"])


def test_drain_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert IdentitySettings().drain_seconds == 5.0
    monkeypatch.setenv("RAPPORT_IDENTITY_DRAIN_SECONDS", "0.5")
    assert IdentitySettings().drain_seconds == 0.5


def test_settings_round_trip_through_model_dump() -> None:
    settings = IdentitySettings(
        auth_tokens={"a": {"scopes": ["x"], "workspaces": ["default"]}, "b": ["*"]},
        workspaces=["default", "brand-b"],
    )
    again = IdentitySettings(**settings.model_dump())
    assert again.auth_tokens == settings.auth_tokens
    assert again.workspaces == ["default", "brand-b"]
