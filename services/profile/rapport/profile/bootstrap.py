"""Wires the profile service: storage, identity client, dependencies, servicer."""

from __future__ import annotations

from pathlib import Path

from rapport.commitwatch import CommitNotifier, close_at_stop
from rapport.grpcserver import ServiceParts
from rapport.pagination import PageTokens
from rapport.profile.adapters import profile_cache
from rapport.profile.adapters.identity_client import GrpcIdentityClient
from rapport.profile.entrypoints.converters import ProtobufEncoder
from rapport.profile.entrypoints.grpc_servicer import ProfileServicer
from rapport.profile.service_layer.dependencies import Dependencies, streamable_bytes
from rapport.profile.service_layer.maintenance import message_id_pruner
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.profile.settings import ProfileSettings
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.sqlstore import create_engine, is_sqlite, migrate

MIGRATIONS_DIR = Path(__file__).parent / "adapters" / "migrations"
SERVICE_NAME = profile_service_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name
ERROR_DOMAIN = "profile.rapport.dev"


def method_scopes() -> dict[str, str]:
    """Every RPC of the contract: authorization refuses a method missing here."""
    scopes = {
        "IngestEvents": "profile.write",
        "RemoveTraits": "profile.write",
        "GetProfile": "profile.read",
        "GetGroup": "profile.read",
        "ListGroups": "profile.read",
        "ListGroupMembers": "profile.read",
        "GetEvent": "profile.read",
        "ListEvents": "profile.read",
        "WatchSignals": "profile.read",
    }
    return {f"/{SERVICE_NAME}/{method}": scope for method, scope in scopes.items()}


def _profile_cache(settings: ProfileSettings, sqlite: bool) -> profile_cache.ProfileCache:
    if settings.redis_url:
        return profile_cache.redis_cache(
            settings.redis_url,
            timeout_seconds=settings.redis_timeout_seconds,
            key_prefix=settings.cache_key_prefix,
            ttl_seconds=settings.cache_ttl_seconds,
        )
    # One process per SQLite database: in-process invalidation is complete. Replicas on
    # PostgreSQL without Redis could not invalidate each other's memory: no cache.
    if sqlite:
        return profile_cache.in_process_cache(settings.cache_max_entries)
    return profile_cache.no_cache()


async def build(settings: ProfileSettings) -> ServiceParts:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    await migrate(engine, MIGRATIONS_DIR, schema=settings.database_schema)
    identity = GrpcIdentityClient(settings.identity_address, settings)
    notifier = CommitNotifier()
    cache = _profile_cache(settings, is_sqlite(engine))
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
        dedup_window=settings.dedup_window,
        profile_cache=cache,
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
        background=[
            close_at_stop(notifier),
            message_id_pruner(
                deps, every=settings.dedup_prune_interval, chunk=settings.dedup_prune_chunk
            ),
        ],
        on_close=[identity.close, cache.close, engine.dispose],
    )
