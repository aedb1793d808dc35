"""Wiring: engine and migrations, outbound clients, providers, Dependencies, dispatcher."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rapport.delivery.adapters.consent_client import GrpcConsentClient
from rapport.delivery.adapters.email_provider import SmtpEmailProvider
from rapport.delivery.adapters.profile_client import GrpcProfileClient
from rapport.delivery.domain.model import Channel, RetryPolicy
from rapport.delivery.entrypoints.grpc_servicer import DeliveryServicer
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.service_layer.dispatcher import Dispatcher
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2, delivery_service_pb2_grpc
from rapport.grpcclients import open_channel
from rapport.grpcserver import ServiceParts
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate

MIGRATIONS_DIR = Path(__file__).parent / "adapters" / "migrations"
SERVICE_NAME = delivery_service_pb2.DESCRIPTOR.services_by_name["DeliveryService"].full_name
# The ErrorInfo domain of every error (stable across contract versions).
ERROR_DOMAIN = "delivery.rapport.dev"


def _method(name: str) -> str:
    return f"/{SERVICE_NAME}/{name}"


# Every RPC of the contract (authorization is default-deny): reads need delivery.read.
METHOD_SCOPES = {
    _method("SendMessage"): "delivery.send",
    _method("GetMessage"): "delivery.read",
    _method("ListMessages"): "delivery.read",
}


async def build(settings: DeliverySettings) -> ServiceParts:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    await migrate(engine, MIGRATIONS_DIR, schema=settings.database_schema)

    def uow_factory(*, readonly: bool = False) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(engine, readonly=readonly)

    profile_channel = open_channel(settings.profile_address, settings)
    consent_channel = open_channel(settings.consent_address, settings)
    email = SmtpEmailProvider(
        host=settings.smtp_host,
        port=settings.smtp_port,
        email_from=settings.email_from,
        timeout_seconds=settings.smtp_timeout_seconds,
        username=settings.smtp_username,
        password=(settings.smtp_password.get_secret_value() if settings.smtp_password else None),
        start_tls=settings.smtp_start_tls,
    )
    deps = Dependencies(
        uow_factory=uow_factory,
        workspaces=frozenset(settings.workspaces),
        profiles=GrpcProfileClient(profile_channel),
        consents=GrpcConsentClient(consent_channel),
        providers={Channel.EMAIL: email},
        retry_policy=RetryPolicy(
            max_attempts=settings.max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_delay_seconds=settings.retry_max_seconds,
        ),
        page_tokens=PageTokens(settings.page_token_key),
        dispatch_wakeup=asyncio.Event(),
    )
    dispatcher = Dispatcher(
        deps,
        concurrency=settings.dispatch_concurrency,
        poll_seconds=settings.dispatch_poll_seconds,
        attempt_timeout_seconds=settings.attempt_timeout_seconds,
        lease_seconds=settings.lease_seconds,
    )
    servicer = DeliveryServicer(deps)

    async def close() -> None:
        await profile_channel.close()
        await consent_channel.close()
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
        background=[dispatcher.run] if settings.dispatcher_enabled else [],
        on_close=[close],
    )
