"""Wires the profile service: storage, identity client, dependencies, servicer."""

from __future__ import annotations

from pathlib import Path

from rapport.commitwatch import CommitNotifier, close_at_stop
from rapport.grpcserver import ServiceParts
from rapport.pagination import PageTokens
from rapport.profile.adapters.identity_client import GrpcIdentityClient
from rapport.profile.entrypoints.converters import ProtobufEncoder
from rapport.profile.entrypoints.grpc_servicer import ProfileServicer
from rapport.profile.service_layer.dependencies import Dependencies, streamable_bytes
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.profile.settings import ProfileSettings
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.sqlstore import create_engine, migrate

MIGRATIONS_DIR = Path(__file__).parent / "adapters" / "migrations"
SERVICE_NAME = profile_service_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name
ERROR_DOMAIN = "profile.rapport.dev"


def method_scopes() -> dict[str, str]:
    """Every RPC of the contract: authorization refuses a method missing here."""
    scopes = {
        "IngestEvents": "profile.write",
        "GetProfile": "profile.read",
        "GetEvent": "profile.read",
        "ListEvents": "profile.read",
        "WatchSignals": "profile.read",
    }
    return {f"/{SERVICE_NAME}/{method}": scope for method, scope in scopes.items()}


async def build(settings: ProfileSettings) -> ServiceParts:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    await migrate(engine, MIGRATIONS_DIR, schema=settings.database_schema)
    identity = GrpcIdentityClient(settings.identity_address, settings)
    notifier = CommitNotifier()
    deps = Dependencies(
        uow=unit_of_work_factory(engine),
        identity=identity,
        notifier=notifier,
        workspaces=tuple(settings.workspaces),
        page_tokens=PageTokens(settings.page_token_key),
        encoder=ProtobufEncoder(),
        ingest_limits=settings.ingest_limits(),
        list_page_max_bytes=settings.list_page_max_bytes,
        signal_batch_size=settings.signal_batch_size,
        signal_poll_seconds=settings.signal_poll_seconds,
        signal_response_max_bytes=streamable_bytes(settings.max_message_bytes),
    )
    servicer = ProfileServicer(deps)
    return ServiceParts(
        register=[
            lambda server: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(
                servicer, server
            )
        ],
        service_names=[SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        method_scopes=method_scopes(),
        # Background tasks are cancelled first when the server stops: every
        # WatchSignals stream then ends instead of hanging.
        background=[close_at_stop(notifier)],
        on_close=[identity.close, engine.dispose],
    )
