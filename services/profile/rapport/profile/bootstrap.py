"""Wires the profile service: storage, identity client, dependencies, servicer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from rapport.commitwatch import CommitNotifier, close_at_stop
from rapport.eventbus import (
    LogSubjects,
    NatsBus,
    SqlRelayPosition,
    StreamSpec,
    relay_lease,
)
from rapport.grpcserver import ServiceParts
from rapport.jsonlogs import allow_extra_keys
from rapport.pagination import PageTokens
from rapport.profile.adapters import profile_cache, tables
from rapport.profile.adapters.identity_changes import IdentityChanges
from rapport.profile.adapters.identity_client import GrpcIdentityClient
from rapport.profile.entrypoints.collector_admission import CollectorAdmission
from rapport.profile.entrypoints.converters import ProtobufEncoder
from rapport.profile.entrypoints.grpc_servicer import ProfileServicer
from rapport.profile.entrypoints.http_collector import collector_app
from rapport.profile.service_layer.computed_traits import backfill_runner
from rapport.profile.service_layer.dependencies import Dependencies, streamable_bytes
from rapport.profile.service_layer.hygiene import hygiene_sweeper
from rapport.profile.service_layer.identity_follow import IdentityFollower
from rapport.profile.service_layer.maintenance import message_id_pruner
from rapport.profile.service_layer.segments import segment_evaluator
from rapport.profile.service_layer.signal_relay import LOG_NAME, signal_relay
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.profile.settings import ProfileSettings
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.sqlstore import create_engine, is_sqlite, migrate
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

MIGRATIONS_DIR = Path(__file__).parent / "adapters" / "migrations"
SERVICE_NAME = profile_service_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name
ERROR_DOMAIN = "profile.rapport.dev"


def method_scopes() -> dict[str, str]:
    """Every RPC of the contract: authorization refuses a method missing here."""
    scopes = {
        "IngestEvents": "profile.write",
        "RemoveTraits": "profile.write",
        "GetProfile": "profile.read",
        "BatchGetProfiles": "profile.read",
        "ListProfiles": "profile.read",
        "GetGroup": "profile.read",
        "ListGroups": "profile.read",
        "ListGroupMembers": "profile.read",
        "GetEvent": "profile.read",
        "ListEvents": "profile.read",
        "WatchSignals": "profile.read",
        "CreateSegment": "profile.admin",
        "GetSegment": "profile.read",
        "ListSegments": "profile.read",
        "UpdateSegment": "profile.admin",
        "DeleteSegment": "profile.admin",
        "ListSegmentMembers": "profile.read",
        "PreviewSegment": "profile.read",
        "GetLifeStageModel": "profile.read",
        "UpdateLifeStageModel": "profile.admin",
        "CreateComputedTrait": "profile.admin",
        "GetComputedTrait": "profile.read",
        "ListComputedTraits": "profile.read",
        "UpdateComputedTrait": "profile.admin",
        "DeleteComputedTrait": "profile.admin",
        "GetBackfillJob": "profile.read",
        "ListBackfillJobs": "profile.read",
        "CreateTrackingPlan": "profile.admin",
        "GetTrackingPlan": "profile.read",
        "ListTrackingPlans": "profile.read",
        "UpdateTrackingPlan": "profile.admin",
        "DeleteTrackingPlan": "profile.admin",
        "ListTrackingPlanRevisions": "profile.read",
        "ListTrackingPlanViolations": "profile.read",
        "ExportProfile": "profile.export",
        "EraseProfile": "profile.erase",
        "GetDataHygienePolicy": "profile.read",
        "UpdateDataHygienePolicy": "profile.admin",
        "ListInactiveProfiles": "profile.read",
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


@dataclass
class _Extras:
    """Identity following, data hygiene, the NATS relay and the HTTP collector."""

    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    http_app: ASGIApp | None = None


def _extras(settings: ProfileSettings, engine: AsyncEngine, deps: Dependencies) -> _Extras:
    extras = _Extras()
    extras.background.append(
        hygiene_sweeper(
            deps, every=settings.hygiene_sweep_interval, chunk=settings.hygiene_sweep_chunk
        )
    )
    if settings.follow_identity:
        changes = IdentityChanges(settings.identity_address, settings)
        extras.background.append(IdentityFollower(deps, changes).run)
        extras.on_close.append(changes.close)
    if settings.nats_url:
        subjects = LogSubjects.from_settings(settings, LOG_NAME)
        bus = NatsBus(settings.nats_url, name=settings.service_name)
        relay = signal_relay(
            deps,
            bus,
            subjects,
            StreamSpec.from_settings(subjects, settings),
            SqlRelayPosition(engine, tables.relay_positions, LOG_NAME),
            relay_lease(engine, subjects.root),
            batch_size=settings.signal_relay_batch_size,
            poll_seconds=settings.signal_relay_poll_seconds,
        )
        extras.background.append(relay.run)
        extras.on_close.append(bus.close)
    admission = CollectorAdmission(
        max_in_flight=settings.collector_max_in_flight,
        requests_per_second=settings.collector_requests_per_second,
    )
    extras.http_app = collector_app(deps, settings.collector_write_keys(), admission)
    return extras


async def build(settings: ProfileSettings) -> ServiceParts:
    # The collector's refused events: message ids, field paths and reasons, no values.
    allow_extra_keys("rejections")
    engine = create_engine(
        settings.database_url_or_default(),
        schema=settings.database_schema,
        sqlite_in_loop=settings.sqlite_in_loop,
    )
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
        segment_chunk_size=settings.segment_chunk_size,
        segment_interval=settings.segment_reevaluation_interval,
        segment_poll_interval=settings.segment_poll_interval,
        backfill_chunk_size=settings.backfill_chunk_size,
    )
    servicer = ProfileServicer(deps)
    extras = _extras(settings, engine, deps)
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
            *extras.background,
            message_id_pruner(
                deps, every=settings.dedup_prune_interval, chunk=settings.dedup_prune_chunk
            ),
            segment_evaluator(deps),
            backfill_runner(deps),
        ],
        on_close=[*extras.on_close, identity.close, cache.close, engine.dispose],
        http_app=extras.http_app,
    )
