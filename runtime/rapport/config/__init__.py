"""Typed service settings read from the environment (one prefix per service)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "ALL",
    "WORKSPACES_FILE_ENV",
    "ServiceSettings",
    "TokenGrant",
    "WORKSPACE_ID",
    "read_workspaces_file",
    "token_grant",
]

# "*" in a grant's scopes or workspaces: every scope / every workspace.
ALL = "*"
WORKSPACE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,127}")
# Suite-wide, deliberately without a service prefix: one file declares the
# workspaces of all five services.
WORKSPACES_FILE_ENV = "RAPPORT_WORKSPACES_FILE"


@dataclass(frozen=True)
class TokenGrant:
    """What one bearer token may do: its scopes, in which workspaces ("*" = all)."""

    scopes: frozenset[str]
    workspaces: frozenset[str] = frozenset({ALL})

    def has_scope(self, scope: str) -> bool:
        return ALL in self.scopes or scope in self.scopes

    @property
    def all_workspaces(self) -> bool:
        return ALL in self.workspaces

    def union(self, other: TokenGrant) -> TokenGrant:
        return TokenGrant(self.scopes | other.scopes, self.workspaces | other.workspaces)


def token_grant(value: object, where: str = "token") -> TokenGrant:
    """A list of scopes (every workspace) or ``{"scopes": [...], "workspaces": [...]}``.

    ``where`` names the entry in error messages; never put the token itself there.
    """
    if isinstance(value, TokenGrant):
        return value
    if isinstance(value, _COLLECTIONS):
        return TokenGrant(_strings(value, f"{where}: scopes"))
    if isinstance(value, dict):
        unknown = set(value) - {"scopes", "workspaces"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(map(str, unknown))}")
        if "scopes" not in value or "workspaces" not in value:
            raise ValueError(
                f"{where}: a mapping needs both 'scopes' and 'workspaces' "
                "(use workspaces ['*'] for every workspace)"
            )
        if not isinstance(value["scopes"], _COLLECTIONS):
            raise ValueError(f"{where}: 'scopes' must be a list of strings")
        if not isinstance(value["workspaces"], _COLLECTIONS):
            raise ValueError(f"{where}: 'workspaces' must be a list of workspace ids or '*'")
        workspaces = _strings(value["workspaces"], f"{where}: workspaces")
        if not workspaces:
            raise ValueError(f"{where}: 'workspaces' is empty (use ['*'] for every workspace)")
        for workspace in workspaces - {ALL}:
            _check_workspace_id(workspace, f"{where}: workspaces")
        return TokenGrant(_strings(value["scopes"], f"{where}: scopes"), workspaces)
    raise ValueError(
        f"{where}: expected a list of scopes or a mapping with 'scopes' and 'workspaces'"
    )


# Lists from JSON/YAML; sets too, so a model_dump() of settings loads again.
_COLLECTIONS = (list, tuple, set, frozenset)


def _strings(values: Any, where: str) -> frozenset[str]:
    if not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{where}: expected non-empty strings")
    return frozenset(values)


def _check_workspace_id(workspace: object, where: str) -> None:
    if not isinstance(workspace, str) or not WORKSPACE_ID.fullmatch(workspace):
        raise ValueError(f"{where}: {workspace!r} is not a workspace id ({WORKSPACE_ID.pattern})")


def _grants(tokens: object, where: str) -> dict[str, TokenGrant]:
    if not isinstance(tokens, dict) or not all(isinstance(t, str) and t for t in tokens):
        raise ValueError(f"{where}: expected a mapping of token -> scopes")
    # Entries are numbered, not named: a token must never reach an error message.
    return {
        token: token_grant(value, f"{where} entry {i}")
        for i, (token, value) in enumerate(tokens.items(), start=1)
    }


def _load(path: Path) -> object:
    """The content of a YAML or JSON (by suffix) file; a clear ValueError otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
    import yaml  # only needed when a YAML file is configured

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None


def read_workspaces_file(path: Path) -> list[str]:
    """The ``workspaces`` list of a YAML or JSON file ``{"workspaces": [...]}``."""
    data = _load(path)
    if not isinstance(data, dict) or set(data) != {"workspaces"}:
        raise ValueError(f'{path}: expected exactly {{"workspaces": [<workspace id>, ...]}}')
    return _workspace_list(data["workspaces"], str(path))


def _workspace_list(values: object, where: str) -> list[str]:
    if not isinstance(values, list) or not values:
        raise ValueError(f"{where}: workspaces must be a non-empty list of workspace ids")
    for workspace in values:
        _check_workspace_id(workspace, f"{where}: workspaces")
    duplicates = sorted({w for w in values if values.count(w) > 1})
    if duplicates:
        raise ValueError(f"{where}: workspaces listed twice: {duplicates}")
    return list(values)


class _SuiteWorkspacesSource(PydanticBaseSettingsSource):
    """``workspaces`` from the file named by RAPPORT_WORKSPACES_FILE, if set."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(WORKSPACES_FILE_ENV, "").strip()
        if not path or "workspaces" not in self.settings_cls.model_fields:
            return {}
        try:
            return {"workspaces": read_workspaces_file(Path(path))}
        except ValueError as exc:
            raise ValueError(f"{WORKSPACES_FILE_ENV}: {exc}") from None


class ServiceSettings(BaseSettings):
    """Settings shared by every service.

    Subclasses set ``model_config = SettingsConfigDict(env_prefix="RAPPORT_<SERVICE>_")``
    and override the ``service_name`` and ``port`` defaults. Complex fields
    (``auth_tokens``, ``workspaces``) are read from the environment as JSON.
    """

    # Subclass configs are merged with this one, so these are inherited. Errors
    # never quote the input: it may hold tokens or database passwords.
    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_", extra="ignore", hide_input_in_errors=True
    )

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path = Path(".data")
    database_url: str | None = None
    database_schema: str | None = None
    # SQLite statements in the event loop's thread (rapport.sqlstore._inline_sqlite):
    # less CPU per statement, but the loop waits while SQLite works.
    sqlite_in_loop: bool = False
    # The process's event loop (rapport.eventloop): uvloop costs less per call.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    redis_url: str | None = None
    # NATS JetStream (rapport.eventbus): set => the service relays its durable log to
    # the bus and runs its consumers there; unset (the embedded default) => no bus.
    nats_url: str | None = None
    # Subjects <prefix>.<service>.<log>.<workspace>.<kind>.<partition>; the prefix and
    # the partition count must be the same in every service of the suite.
    nats_subject_prefix: str = "rapport"
    nats_partitions: int = 16
    nats_stream_max_age_seconds: float = 7 * 24 * 3600.0
    nats_stream_replicas: int = 1
    max_message_bytes: int = 4 * 1024 * 1024
    # HTTP next to gRPC (rapport.httpserver), served only when the service's parts
    # carry an http_app. Services set their http_port default; 0 = ephemeral.
    http_enabled: bool = True
    http_host: str | None = None  # None: the gRPC host
    http_port: int = 0
    # Request bodies, and a gzip body after decompression (413 past it).
    http_max_body_bytes: int = 1024 * 1024
    # On stop: NOT_SERVING but still serving for drain_seconds (readiness probes
    # notice), then in-flight calls get grace_seconds.
    drain_seconds: float = 5.0
    grace_seconds: float = 5.0
    default_deadline_seconds: float = 10.0
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    tracing_exporter: Literal["none", "console", "otlp"] = "none"
    otlp_endpoint: str | None = None
    # Token -> grant; each value may be given as a list of scopes (every workspace)
    # or {"scopes": [...], "workspaces": [...]}.
    auth_tokens: dict[str, TokenGrant] = {}
    auth_tokens_file: Path | None = None
    outbound_token: str | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # CA bundle to verify the servers this service calls; set => outbound TLS
    # (and mTLS with tls_cert_file/tls_key_file as the client certificate).
    outbound_tls_ca_file: Path | None = None
    # Key of page tokens (rapport.pagination.PageTokens); the same on every replica.
    page_token_key: SecretStr | None = None
    # Priority: constructor > RAPPORT_<SERVICE>_WORKSPACES > RAPPORT_WORKSPACES_FILE.
    workspaces: list[str] = ["default"]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _SuiteWorkspacesSource(settings_cls),
            file_secret_settings,
        )

    @field_validator("auth_tokens", mode="before")
    @classmethod
    def _normalise_auth_tokens(cls, value: object) -> dict[str, TokenGrant]:
        return _grants(value, "auth_tokens")

    @field_validator("workspaces")
    @classmethod
    def _check_workspaces(cls, value: list[str]) -> list[str]:
        return _workspace_list(value, "workspaces")

    @model_validator(mode="after")
    def _merge_auth_tokens_file(self) -> ServiceSettings:
        # Merge once at load time so every consumer sees one mapping.
        if self.auth_tokens_file is not None:
            merged = dict(self.auth_tokens)
            for token, grant in _read_token_file(self.auth_tokens_file).items():
                merged[token] = merged[token].union(grant) if token in merged else grant
            self.auth_tokens = merged
        return self

    def database_url_or_default(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / f'{self.service_name}.db'}"


def _read_token_file(path: Path) -> dict[str, TokenGrant]:
    data = _load(path)
    return _grants({} if data is None else data, str(path))
