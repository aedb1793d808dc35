"""Wiring: engine and migrations, outbound clients, providers, Dependencies, dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rapport.delivery.adapters.cap_store import CapStore, SqlCapStore
from rapport.delivery.adapters.consent_client import GrpcConsentClient
from rapport.delivery.adapters.consent_feed import GrpcConsentFeed
from rapport.delivery.adapters.consent_recorder import GrpcConsentRecorder
from rapport.delivery.adapters.email_provider import SmtpEmailProvider
from rapport.delivery.adapters.http_provider import HttpClient, new_client
from rapport.delivery.adapters.inbox_provider import InboxProvider
from rapport.delivery.adapters.outbox_locks import outbox_locks_for
from rapport.delivery.adapters.profile_client import (
    CachedProfileClient,
    GrpcProfileClient,
    ProfileClient,
)
from rapport.delivery.adapters.profile_events_client import GrpcProfileEventSink
from rapport.delivery.adapters.providers import Provider
from rapport.delivery.adapters.push_provider import FcmPushProvider
from rapport.delivery.adapters.redis_cap_store import RedisCapStore
from rapport.delivery.adapters.sms_provider import TwilioSmsProvider
from rapport.delivery.adapters.webhook_provider import WebhookProvider, decode_secret
from rapport.delivery.domain.addressing import Addressing
from rapport.delivery.domain.channel_choice import ChannelRanking
from rapport.delivery.domain.circuit_breaker import BreakerPolicy, CircuitBreakers
from rapport.delivery.domain.frequency_caps import CapPolicy, CapRule, OnExceed
from rapport.delivery.domain.model import Channel, RetryPolicy
from rapport.delivery.domain.policy import SendingPolicy
from rapport.delivery.domain.quiet_hours import QuietHours, QuietHoursPolicy, time_zone
from rapport.delivery.domain.sms_opt_out import SmsOptOutPolicy
from rapport.delivery.domain.tracking import EmailTracking
from rapport.delivery.entrypoints.grpc_servicer import DeliveryServicer
from rapport.delivery.entrypoints.http_app import build_http_app
from rapport.delivery.service_layer.closed_loop import ClosedLoop, closed_loop_secret
from rapport.delivery.service_layer.consent_follower import ConsentFollower
from rapport.delivery.service_layer.dependencies import Dependencies, utc_now
from rapport.delivery.service_layer.dispatcher import Dispatcher
from rapport.delivery.service_layer.limits import ProviderLimit, ProviderLimits
from rapport.delivery.service_layer.maintenance import Maintenance
from rapport.delivery.service_layer.outbox_relay import OutboxRelay
from rapport.delivery.service_layer.subject_requests import kept_erased_keys
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.delivery.settings import (
    INBOX_PROVIDER,
    WEBHOOK_PROVIDER,
    DeliverySettings,
    HttpProviderSettings,
    ProviderLimitSettings,
    SmtpProviderSettings,
)
from rapport.delivery.v1 import delivery_service_pb2, delivery_service_pb2_grpc
from rapport.groupcommit import GroupCommit
from rapport.grpcclients import open_channel
from rapport.grpcserver import ServiceParts
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate
from rapport.versionedcache import redis_client
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "adapters" / "migrations"
SERVICE_NAME = delivery_service_pb2.DESCRIPTOR.services_by_name["DeliveryService"].full_name
# The ErrorInfo domain of every error (stable across contract versions).
ERROR_DOMAIN = "delivery.rapport.dev"


def _method(name: str) -> str:
    return f"/{SERVICE_NAME}/{name}"


# Every RPC of the contract (authorization is default-deny): reads need delivery.read.
METHOD_SCOPES = {
    _method("SendMessage"): "delivery.send",
    _method("BatchSendMessages"): "delivery.send",
    _method("GetMessage"): "delivery.read",
    _method("ListMessages"): "delivery.read",
    # Replaying a dead letter sends it: the senders' scope.
    _method("RetryMessage"): "delivery.send",
    _method("GetInboxMessage"): "delivery.read",
    _method("ListInboxMessages"): "delivery.read",
    # The app marks what its user read: a write, but not a send.
    _method("MarkInboxMessageRead"): "delivery.inbox",
    _method("GetTemplate"): "delivery.read",
    _method("ListTemplates"): "delivery.read",
    # Template authors: a preview renders a customer's profile traits, so it needs the
    # authors' scope, not just delivery.read.
    _method("CreateTemplate"): "delivery.templates",
    _method("UpdateTemplate"): "delivery.templates",
    _method("DeleteTemplate"): "delivery.templates",
    _method("RenderTemplate"): "delivery.templates",
    # Providers (or a bridge for them) reporting delivered, bounced, opened...
    _method("ReportProviderEvent"): "delivery.report",
    # Data subject requests: everything held on a customer, and its erasure.
    _method("ExportCustomerMessages"): "delivery.export",
    _method("EraseCustomerMessages"): "delivery.erase",
}


def _email_providers(settings: DeliverySettings) -> list[Provider]:
    limits = provider_limits(settings)
    configured = settings.email_providers or [
        SmtpProviderSettings(
            name="smtp",
            host=settings.smtp_host,
            port=settings.smtp_port,
            timeout_seconds=settings.smtp_timeout_seconds,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_start_tls,
            ca_file=settings.smtp_ca_file,
        )
    ]
    return [
        SmtpEmailProvider(
            name=smtp.name,
            host=smtp.host,
            port=smtp.port,
            email_from=settings.email_from,
            timeout_seconds=smtp.timeout_seconds,
            username=smtp.username,
            password=smtp.password.get_secret_value() if smtp.password else None,
            start_tls=smtp.start_tls,
            ca_file=smtp.ca_file,
            # A session kept per mail that may be in flight: none is reopened under load.
            max_idle_sessions=limits.limit_of(smtp.name).max_concurrency,
        )
        for smtp in configured
    ]


def _client(provider: HttpProviderSettings) -> HttpClient:
    # Its own pool: a slow provider holds only its own connections.
    return new_client(
        timeout_seconds=provider.timeout_seconds, max_connections=provider.max_connections
    )


def twilio_callback_url(settings: DeliverySettings, provider: str, kind: str) -> str:
    """Where a Twilio-style SMS provider calls back (`status` or `inbound`)."""
    return f"{settings.public_base_url}/v1/providers/{provider}/twilio/{kind}"


def closed_loop(
    settings: DeliverySettings, *, consent_channel: Any, profile_channel: Any
) -> ClosedLoop:
    secret = settings.unsubscribe_secret
    return ClosedLoop(
        **({"secret": secret.get_secret_value().encode()} if secret is not None else {}),
        token_ttl=timedelta(seconds=settings.unsubscribe_token_ttl_seconds),
        early_event_window=timedelta(seconds=settings.early_provider_event_window_seconds),
        public_base_url=settings.public_base_url,
        identifier_traits=dict(settings.event_identifier_traits),
        opt_outs=GrpcConsentRecorder(consent_channel),
        profile_events=GrpcProfileEventSink(profile_channel),
        twilio_tokens={
            sms.name: sms.auth_token.get_secret_value() for sms in settings.sms_providers
        },
        event_secrets={
            name: decode_secret(value.get_secret_value())
            for name, value in settings.provider_event_secrets.items()
        },
        email_tracking={
            workspace: EmailTracking(t.opens, t.clicks, t.transactional)
            for workspace, t in settings.email_tracking.items()
        },
    )


def build_providers(
    settings: DeliverySettings, engine: AsyncEngine, clock: Callable[[], datetime] = utc_now
) -> dict[Channel, list[Provider]]:
    """Per channel, its providers in the order they are tried (empty lists left out)."""
    providers: dict[Channel, list[Provider]] = {Channel.EMAIL: _email_providers(settings)}
    providers[Channel.SMS] = [
        TwilioSmsProvider(
            name=sms.name,
            client=_client(sms),
            base_url=sms.base_url,
            account_sid=sms.account_sid,
            auth_token=sms.auth_token.get_secret_value(),
            from_number=sms.from_number,
            messaging_service_sid=sms.messaging_service_sid,
            honours_idempotency_key=sms.honours_idempotency_key,
            status_callback_url=twilio_callback_url(settings, sms.name, "status"),
        )
        for sms in settings.sms_providers
    ]
    providers[Channel.PUSH] = [
        FcmPushProvider(
            name=push.name,
            client=_client(push),
            endpoint=push.endpoint,
            project_id=push.project_id,
            access_token=push.access_token.get_secret_value(),
            honours_idempotency_key=push.honours_idempotency_key,
        )
        for push in settings.push_providers
    ]
    if settings.webhook_endpoints:
        providers[Channel.WEBHOOK] = [
            WebhookProvider(
                name=WEBHOOK_PROVIDER,
                client=new_client(
                    timeout_seconds=settings.webhook_timeout_seconds,
                    max_connections=settings.webhook_max_connections,
                ),
                secrets={
                    workspace: endpoint.secret.get_secret_value()
                    for workspace, endpoint in settings.webhook_endpoints.items()
                },
                clock=clock,
            )
        ]
    if settings.in_app_enabled:
        providers[Channel.IN_APP] = [InboxProvider(engine, name=INBOX_PROVIDER, clock=clock)]
    return {channel: chain for channel, chain in providers.items() if chain}


def addressing(settings: DeliverySettings) -> Addressing:
    return Addressing(
        email_trait=settings.email_trait,
        phone_trait=settings.phone_trait,
        push_token_trait=settings.push_token_trait,
        default_phone_region=settings.default_phone_region,
        webhook_urls={ws: endpoint.url for ws, endpoint in settings.webhook_endpoints.items()},
    )


def sending_policy(settings: DeliverySettings) -> SendingPolicy:
    rules = tuple(
        CapRule(
            limit=cap.limit,
            window=timedelta(seconds=cap.window_seconds),
            purpose=cap.purpose,
            channel=cap.channel,
            workspace=cap.workspace,
            on_exceed=OnExceed(cap.on_exceed),
        )
        for cap in settings.frequency_caps
    )
    quiet_hours = {
        workspace: QuietHours(
            start=hours.start,
            end=hours.end,
            default_zone=time_zone(hours.time_zone) or UTC,
            channels=frozenset(hours.channels),
        )
        for workspace, hours in settings.quiet_hours.items()
    }
    return SendingPolicy(
        caps=CapPolicy(rules, frozenset(settings.transactional_purposes)),
        quiet_hours=QuietHoursPolicy(quiet_hours, time_zone_trait=settings.time_zone_trait),
        ranking=ChannelRanking(
            preference_trait=settings.preferred_channel_trait,
            cost_order=tuple(settings.channel_cost_order),
        ),
        locale_trait=settings.locale_trait,
        idempotency_window=timedelta(seconds=settings.idempotency_window_seconds),
        sms_opt_out=SmsOptOutPolicy({ws: o.notice for ws, o in settings.sms_opt_out.items()}),
        max_sms_segments=settings.max_sms_segments,
    )


def cap_store(settings: DeliverySettings, engine: AsyncEngine) -> CapStore:
    use_redis = settings.frequency_cap_store == "redis" or (
        settings.frequency_cap_store == "auto" and settings.redis_url
    )
    if use_redis and settings.redis_url:
        client = redis_client(settings.redis_url, timeout_seconds=settings.redis_timeout_seconds)
        return RedisCapStore(
            client,
            key_prefix=settings.frequency_cap_key_prefix,
            linger=settings.batch_linger_seconds,
        )
    return SqlCapStore(engine, linger=settings.batch_linger_seconds)


def _limit(limit: ProviderLimitSettings) -> ProviderLimit:
    return ProviderLimit(
        max_concurrency=limit.max_concurrency,
        rate_per_second=limit.rate_per_second,
        burst=limit.burst,
    )


def provider_limits(settings: DeliverySettings) -> ProviderLimits:
    return ProviderLimits(
        limits={name: _limit(limit) for name, limit in settings.provider_limits.items()},
        default=_limit(settings.provider_default_limit),
    )


def profile_client(settings: DeliverySettings, channel: Any) -> ProfileClient:
    client = GrpcProfileClient(channel, linger=settings.batch_linger_seconds)
    if settings.profile_cache_seconds > 0:
        return CachedProfileClient(client, ttl_seconds=settings.profile_cache_seconds)
    return client


async def build(
    settings: DeliverySettings, *, clock: Callable[[], datetime] = utc_now
) -> ServiceParts:
    """`clock` is for tests (expiry, holds): every use case and component reads it."""
    engine = create_engine(
        settings.database_url_or_default(),
        schema=settings.database_schema,
        sqlite_in_loop=settings.sqlite_in_loop,
    )
    await migrate(engine, MIGRATIONS_DIR, schema=settings.database_schema)

    def uow_factory(*, readonly: bool = False, snapshot: bool = False) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(engine, readonly=readonly, snapshot=snapshot)

    loop_secret = await closed_loop_secret(settings.unsubscribe_secret, uow_factory, clock())
    erased_keys = await kept_erased_keys(uow_factory, clock())
    profile_channel = open_channel(settings.profile_address, settings)
    consent_channel = open_channel(settings.consent_address, settings)
    providers = build_providers(settings, engine, clock)
    caps = cap_store(settings, engine)
    deps = Dependencies(
        uow_factory=uow_factory,
        workspaces=frozenset(settings.workspaces),
        profiles=profile_client(settings, profile_channel),
        consents=GrpcConsentClient(consent_channel, linger=settings.batch_linger_seconds),
        providers=providers,
        retry_policy=RetryPolicy(
            max_attempts=settings.max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_delay_seconds=settings.retry_max_seconds,
        ),
        page_tokens=PageTokens(settings.page_token_key),
        addressing=addressing(settings),
        breakers=CircuitBreakers(
            BreakerPolicy(
                failure_threshold=settings.breaker_failure_threshold,
                cooldown=timedelta(seconds=settings.breaker_cooldown_seconds),
            )
        ),
        dispatch_wakeup=asyncio.Event(),
        clock=clock,
        policy=sending_policy(settings),
        caps=caps,
        limits=provider_limits(settings),
        # The configured secret, else the one kept in the database (not a random one).
        loop=replace(
            closed_loop(settings, consent_channel=consent_channel, profile_channel=profile_channel),
            secret=loop_secret,
        ),
        accepts=GroupCommit(linger=settings.batch_linger_seconds),
        erased_keys=erased_keys,
        outbox_locks=outbox_locks_for(engine),
    )
    relay = OutboxRelay(
        deps, poll_seconds=settings.outbox_poll_seconds, batch_size=settings.outbox_batch_size
    )
    dispatcher = Dispatcher(
        deps,
        concurrency=settings.dispatch_concurrency,
        poll_seconds=settings.dispatch_poll_seconds,
        attempt_timeout_seconds=settings.attempt_timeout_seconds,
        lease_seconds=settings.lease_seconds,
        linger_seconds=settings.batch_linger_seconds,
    )
    maintenance = Maintenance(deps, interval_seconds=settings.maintenance_interval_seconds)
    follower = ConsentFollower(
        deps,
        GrpcConsentFeed(consent_channel),
        retry_seconds=settings.consent_follow_retry_seconds,
    )
    servicer = DeliveryServicer(deps)

    async def close() -> None:
        for chain in providers.values():
            for provider in chain:
                await provider.close()
        await profile_channel.close()
        await consent_channel.close()
        await caps.close()
        await engine.dispose()

    return ServiceParts(
        register=[
            lambda server: delivery_service_pb2_grpc.add_DeliveryServiceServicer_to_server(
                servicer, server
            )
        ],
        service_names=[SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        method_scopes=dict(METHOD_SCOPES),
        background=[
            maintenance.run,
            *([dispatcher.run] if settings.dispatcher_enabled else []),
            *([follower.run] if settings.consent_follow_enabled else []),
            *([relay.run] if settings.outbox_enabled else []),
        ],
        on_close=[close],
        http_app=build_http_app(deps),
    )
