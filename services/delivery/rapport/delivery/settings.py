"""Delivery settings, read from RAPPORT_DELIVERY_* environment variables.

Lists and maps (providers, webhook endpoints) are JSON in the environment, e.g.
RAPPORT_DELIVERY_SMS_PROVIDERS='[{"name": "sms", "account_sid": "AC...",
"auth_token": "...", "from_number": "+15005550006"}]'.
"""

from __future__ import annotations

from datetime import time
from ipaddress import ip_address
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from rapport.config import ServiceSettings
from rapport.delivery.adapters.webhook_provider import decode_secret
from rapport.delivery.domain.channel_choice import DEFAULT_COST_ORDER, parse_channel_name
from rapport.delivery.domain.model import Channel
from rapport.delivery.domain.quiet_hours import DEFAULT_QUIET_CHANNELS, time_zone
from rapport.delivery.domain.sms_length import DEFAULT_MAX_SEGMENTS as DEFAULT_MAX_SMS_SEGMENTS
from rapport.delivery.domain.sms_length import MAX_SEGMENTS as MAX_SMS_SEGMENTS
from rapport.delivery.domain.sms_opt_out import DEFAULT_NOTICE, notice_problem

# Names the built-in providers take (recorded on the messages they send).
WEBHOOK_PROVIDER = "webhook"
INBOX_PROVIDER = "inbox"


class HttpProviderSettings(BaseModel):
    # Unique in the deployment: recorded on each message it takes, keys its breaker.
    name: str
    timeout_seconds: float = 10.0
    # Connections to this provider at most (its own pool: a slow one holds only its own).
    max_connections: int = 50
    # Whether the provider takes a repeated Idempotency-Key once (then an ambiguous
    # timeout can be settled by asking it again, and fallback can follow).
    honours_idempotency_key: bool = True


class SmtpProviderSettings(BaseModel):
    name: str
    host: str = "127.0.0.1"
    port: int = 25
    timeout_seconds: float = 10.0
    username: str | None = None
    password: SecretStr | None = None
    # None: STARTTLS when the server offers it; True: required; False: never.
    start_tls: bool | None = None
    # CA certificates (PEM) to trust for the relay's certificate; None: the system's.
    ca_file: str | None = None


class TwilioSmsSettings(HttpProviderSettings):
    base_url: str = "https://api.twilio.com"
    account_sid: str
    auth_token: SecretStr
    # One of them: the sender number, or a messaging service that picks one.
    from_number: str = ""
    messaging_service_sid: str = ""

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioSmsSettings:
        if bool(self.from_number) == bool(self.messaging_service_sid):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        return self


class FcmPushSettings(HttpProviderSettings):
    endpoint: str = "https://fcm.googleapis.com"
    project_id: str
    # An OAuth 2.0 access token for the project (refreshed outside delivery).
    access_token: SecretStr


class WebhookEndpoint(BaseModel):
    # HTTPS; plain HTTP only to this machine (127.0.0.1, ::1, localhost) for development.
    url: str
    # `whsec_` then base64 of 24 to 64 random bytes (Standard Webhooks).
    secret: SecretStr

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("must be https:// (http:// only to this machine)")
        return url

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: SecretStr) -> SecretStr:
        decode_secret(secret.get_secret_value())
        return secret


def _channel_spelling(value: Any) -> Any:
    # `email`, `EMAIL` and `CHANNEL_EMAIL` alike; anything else is left for pydantic to refuse.
    if isinstance(value, str):
        channel = parse_channel_name(value)
        return channel.value if channel is not None else value
    return value


def _channel_spellings(values: Any) -> Any:
    return [_channel_spelling(v) for v in values] if isinstance(values, list) else values


class FrequencyCapSettings(BaseModel):
    """At most `limit` messages per `window_seconds` to one customer, counting those of
    `purpose` ("*": every purpose but the transactional ones) on `channel` (none:
    every channel together) in `workspace` ("*": every workspace)."""

    limit: int
    window_seconds: float
    purpose: str = "*"
    channel: Channel | None = None
    workspace: str = "*"
    # "cap": the message ends CAPPED; "defer": it waits until the window has room.
    on_exceed: Literal["cap", "defer"] = "cap"

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_name(cls, value: Any) -> Any:
        return _channel_spelling(value)

    @model_validator(mode="after")
    def _bounds(self) -> FrequencyCapSettings:
        if self.limit < 1 or self.window_seconds < 1:
            raise ValueError("a frequency cap needs limit >= 1 and window_seconds >= 1")
        return self


class QuietHoursSettings(BaseModel):
    """From `start` to `end` (local time, e.g. "21:00" to "08:00"; may span midnight)."""

    start: time
    end: time
    # The workspace's zone (IANA), for customers whose profile gives none.
    time_zone: str = "UTC"
    channels: list[Channel] = sorted(DEFAULT_QUIET_CHANNELS)

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_names(cls, values: Any) -> Any:
        return _channel_spellings(values)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        if time_zone(name) is None:
            raise ValueError("must be an IANA time zone, e.g. Europe/Paris")
        return name

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursSettings:
        if self.start == self.end:
            raise ValueError("quiet hours must not start and end at the same time")
        return self


class ProviderLimitSettings(BaseModel):
    """Limits of one provider per replica: calls in flight, calls a second."""

    max_concurrency: int = 8
    # 0: unlimited.
    rate_per_second: float = 0.0
    burst: int = 1

    @model_validator(mode="after")
    def _bounds(self) -> ProviderLimitSettings:
        if self.max_concurrency < 1 or self.burst < 1:
            raise ValueError("max_concurrency and burst must be at least 1")
        if not 0 <= self.rate_per_second < float("inf"):
            raise ValueError("rate_per_second must be 0 (unlimited) or a positive number")
        return self


class EmailTrackingSettings(BaseModel):
    """Open and click tracking of one workspace's HTML email (domain/tracking.py)."""

    # A misspelt key ("open": false) would otherwise leave tracking on, unnoticed.
    model_config = ConfigDict(extra="forbid")

    # A 1x1 pixel records OPENED.
    opens: bool = True
    # Links go through delivery's HTTP endpoint, which records CLICKED and redirects.
    clicks: bool = True
    # Transactional purposes too (their links may carry secrets: off unless asked).
    transactional: bool = False


class SmsOptOutSettings(BaseModel):
    """The opt-out notice of one workspace's marketing SMS (domain/sms_opt_out.py)."""

    # A misspelt key ("enable": false) would otherwise leave the default, unnoticed.
    model_config = ConfigDict(extra="forbid")

    # False: none is added (the workspace's own templates say how to opt out).
    enabled: bool = True
    text: str = DEFAULT_NOTICE

    @field_validator("text")
    @classmethod
    def _tells_how(cls, text: str) -> str:
        if problem := notice_problem(text):
            raise ValueError(problem)
        return text

    @property
    def notice(self) -> str:
        return self.text if self.enabled else ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class DeliverySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_DELIVERY_")

    service_name: str = "delivery"
    port: int = 50055
    # The HTTP endpoint: unsubscribe links and provider callbacks (rapport.httpserver).
    http_port: int = 8055

    # Where that endpoint is reached from outside (a proxy, an ingress): unsubscribe
    # links and provider callback URLs are built from it, and Twilio signatures are
    # checked against it. https:// (http:// only to this machine).
    public_base_url: str = "http://127.0.0.1:8055"
    # Signs unsubscribe and tracking tokens and keys recipient hashes; the same on every
    # replica. None: a key generated once and kept in delivery's database (signing_keys),
    # shared by every replica on that database and kept across restarts.
    unsubscribe_secret: SecretStr | None = None
    # How long an unsubscribe link works after the mail went out.
    unsubscribe_token_ttl_seconds: float = 180 * 24 * 3600.0
    # Per workspace id ("*": every workspace without its own entry), open and click
    # tracking of HTML email: {"*": {}} tracks opens and clicks of marketing email
    # everywhere. Tracked links are signed with unsubscribe_secret (or the kept key).
    email_tracking: dict[str, EmailTrackingSettings] = {}
    # Per provider name, the shared secret (`whsec_...`, Standard Webhooks) its event
    # callbacks are signed with (POST /v1/providers/{provider}/events); a provider
    # without one has no such endpoint.
    provider_event_secrets: dict[str, SecretStr] = {}
    # Profile trait -> identifier type: what the profile events of status changes
    # (`Email Delivered`...) are attributed with.
    event_identifier_traits: dict[str, str] = {
        "user_id": "user_id",
        "email": "email",
        "phone": "phone",
    }
    # How long a provider event for a message whose SENT is not recorded yet (or for a
    # provider id no message carries yet) is held for it before it is dropped.
    early_provider_event_window_seconds: float = 24 * 3600.0
    # The outbox relay (profile events, bounce and complaint opt-outs).
    outbox_enabled: bool = True
    outbox_poll_seconds: float = 1.0
    outbox_batch_size: int = 100

    profile_address: str = "127.0.0.1:50052"
    consent_address: str = "127.0.0.1:50053"

    # The email provider when email_providers is empty (named "smtp").
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_timeout_seconds: float = 10.0
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # None: STARTTLS when the server offers it; True: required; False: never.
    smtp_start_tls: bool | None = None
    smtp_ca_file: str | None = None
    email_from: str = "Rapport <no-reply@rapport.local>"

    # Per channel, the providers in the order they are tried (empty: the channel is off,
    # except email, which then uses the smtp_* settings above).
    email_providers: list[SmtpProviderSettings] = []
    sms_providers: list[TwilioSmsSettings] = []
    push_providers: list[FcmPushSettings] = []
    # Per workspace id, where its CHANNEL_WEBHOOK messages go.
    webhook_endpoints: dict[str, WebhookEndpoint] = {}
    webhook_timeout_seconds: float = 15.0
    webhook_max_connections: int = 50
    in_app_enabled: bool = True

    # The profile traits holding each channel's address.
    email_trait: str = "email"
    phone_trait: str = "phone"
    push_token_trait: str = "push_token"
    # Region of phone numbers written without a country code (e.g. "GB"); None: refused.
    default_phone_region: str | None = None
    # The profile traits holding the customer's locale (`fr-CA`), IANA time zone and
    # preferred channel (`sms`, or a list in order of preference).
    locale_trait: str = "locale"
    time_zone_trait: str = "timezone"
    preferred_channel_trait: str = "preferred_channel"

    # Best channel: cheapest first (channels left out rank after those listed).
    channel_cost_order: list[Channel] = list(DEFAULT_COST_ORDER)
    # Purposes of service messages: exempt from frequency caps.
    transactional_purposes: list[str] = ["transactional"]
    frequency_caps: list[FrequencyCapSettings] = []
    # Where caps count: "auto" is Redis when redis_url is set, else the database.
    frequency_cap_store: Literal["auto", "redis", "database"] = "auto"
    frequency_cap_key_prefix: str = "rapport:delivery:caps:"
    # A Redis call slower than this counts as unavailable (the message waits).
    redis_timeout_seconds: float = 1.0
    # Per workspace id ("*": every workspace without its own entry).
    quiet_hours: dict[str, QuietHoursSettings] = {}
    # Per workspace id ("*": every workspace without its own entry), the notice appended
    # to marketing SMS that do not say how to opt out; unset: "Reply STOP to opt out.".
    sms_opt_out: dict[str, SmsOptOutSettings] = {}
    # An SMS whose final text (opt-out notice included) takes more segments than this
    # fails SMS_TOO_LONG instead of going out (160 GSM-7 / 70 UCS-2 characters in one
    # segment, 153 / 67 in each of several; carriers cap near 10, Twilio's 1,600).
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS
    # An idempotency key answers with its message this long (at least 24 hours).
    idempotency_window_seconds: float = 7 * 24 * 3600.0
    # How often expired idempotency keys and cap counts are pruned.
    maintenance_interval_seconds: float = 300.0

    # A provider's breaker opens after this many definite failures in a row...
    breaker_failure_threshold: int = 5
    # ...and lets one trial call through after this long.
    breaker_cooldown_seconds: float = 30.0

    max_attempts: int = 8
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    dispatch_poll_seconds: float = 0.5
    dispatcher_enabled: bool = True
    # Follow consent's ledger and cancel queued messages on opt-outs (needs the
    # consent.watch scope on consent); the first retry after a failed stream.
    consent_follow_enabled: bool = True
    consent_follow_retry_seconds: float = 1.0
    # Messages in flight at once per replica: one slow provider call never stalls the rest.
    dispatch_concurrency: int = 32
    # Per provider name (`smtp`, `webhook`, `inbox`, the configured names): its limits;
    # providers not listed get provider_default_limit. A channel's messages hold at most
    # as many dispatch slots as its providers may have calls in flight.
    provider_limits: dict[str, ProviderLimitSettings] = {}
    provider_default_limit: ProviderLimitSettings = ProviderLimitSettings()
    # How long a customer's profile read from profile is used for their next messages
    # (traits changed meanwhile show that much later at most); 0: read for every attempt.
    profile_cache_seconds: float = 0.0
    # Under load, how long a batch (accepts, claims, cap counts, profile reads, consent
    # checks, attempt outcomes) waits for more items before it is written: fewer, larger
    # transactions and calls. An idle service writes a lone item at once.
    batch_linger_seconds: float = 0.005
    # One attempt (profile, consent, providers) is cut off after this long...
    attempt_timeout_seconds: float = 60.0
    # ...and its claim lasts longer, so no other replica takes the message meanwhile.
    lease_seconds: float = 120.0

    @model_validator(mode="after")
    def _lease_outlives_attempt(self) -> DeliverySettings:
        if self.lease_seconds <= self.attempt_timeout_seconds:
            raise ValueError("lease_seconds must be greater than attempt_timeout_seconds")
        if self.max_attempts < 1 or self.dispatch_concurrency < 1:
            raise ValueError("max_attempts and dispatch_concurrency must be at least 1")
        if not 0 <= self.profile_cache_seconds <= 60:
            raise ValueError("profile_cache_seconds must be between 0 and 60")
        if not 0 <= self.batch_linger_seconds <= 0.04:
            raise ValueError("batch_linger_seconds must be between 0 and 0.04")
        if self.breaker_failure_threshold < 1:
            raise ValueError("breaker_failure_threshold must be at least 1")
        if not 1 <= self.max_sms_segments <= MAX_SMS_SEGMENTS:
            raise ValueError(f"max_sms_segments must be between 1 and {MAX_SMS_SEGMENTS}")
        return self

    @field_validator("channel_cost_order", mode="before")
    @classmethod
    def _channel_names(cls, values: Any) -> Any:
        return _channel_spellings(values)

    @model_validator(mode="after")
    def _policy_bounds(self) -> DeliverySettings:
        if self.idempotency_window_seconds < 24 * 3600:
            raise ValueError("idempotency_window_seconds must be at least 86400 (24 hours)")
        if self.maintenance_interval_seconds <= 0:
            raise ValueError("maintenance_interval_seconds must be positive")
        if not 0 < self.consent_follow_retry_seconds < float("inf"):
            raise ValueError("consent_follow_retry_seconds must be a positive number")
        if not 0 <= self.retry_base_seconds <= self.retry_max_seconds < float("inf"):
            raise ValueError("need 0 <= retry_base_seconds <= retry_max_seconds (finite)")
        if self.frequency_cap_store == "redis" and not self.redis_url:
            raise ValueError("frequency_cap_store redis needs redis_url")
        return self

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("must be https:// (http:// only to this machine)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return url.rstrip("/")

    @field_validator("provider_event_secrets")
    @classmethod
    def _event_secrets(cls, secrets: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for secret in secrets.values():
            decode_secret(secret.get_secret_value())
        return secrets

    @model_validator(mode="after")
    def _loop_bounds(self) -> DeliverySettings:
        if self.unsubscribe_token_ttl_seconds < 24 * 3600:
            raise ValueError("unsubscribe_token_ttl_seconds must be at least 86400 (a day)")
        if self.outbox_poll_seconds <= 0 or self.outbox_batch_size < 1:
            raise ValueError("outbox_poll_seconds must be positive, outbox_batch_size >= 1")
        if not 0 < self.early_provider_event_window_seconds < float("inf"):
            raise ValueError("early_provider_event_window_seconds must be a positive number")
        if self.unsubscribe_secret is not None and not self.unsubscribe_secret.get_secret_value():
            raise ValueError("unsubscribe_secret must not be empty")
        return self

    @model_validator(mode="after")
    def _workspace_keys_are_served(self) -> DeliverySettings:
        # A workspace misspelt, or not served here, would leave its setting silently
        # unused (quiet hours not held, tracking off, webhooks failing NO_ADDRESS).
        served = set(self.workspaces)
        named = {
            "email_tracking": set(self.email_tracking) - {"*"},
            "quiet_hours": set(self.quiet_hours) - {"*"},
            "sms_opt_out": set(self.sms_opt_out) - {"*"},
            "frequency_caps": {cap.workspace for cap in self.frequency_caps} - {"*"},
            "webhook_endpoints": set(self.webhook_endpoints),
        }
        for setting, workspaces in named.items():
            if unknown := sorted(workspaces - served):
                raise ValueError(
                    f"{setting} names workspaces not served here ({', '.join(unknown)}); "
                    f"served: {', '.join(sorted(served))}"
                    + ("" if setting == "webhook_endpoints" else "; '*' means every workspace")
                )
        return self

    @model_validator(mode="after")
    def _provider_names_are_unique(self) -> DeliverySettings:
        names = [p.name for p in self.email_providers] or ["smtp"]
        names += [p.name for p in (*self.sms_providers, *self.push_providers)]
        names += [WEBHOOK_PROVIDER, INBOX_PROVIDER]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"provider names must be unique; repeated: {', '.join(repeated)}")
        return self
