"""Wires the decisioning service: storage, clients, contacts store, catalogue file, first
publication, servicer, trigger runner."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import grpc
from rapport.decisioning.adapters import catalogue_file
from rapport.decisioning.adapters.consent_client import GrpcConsentClient
from rapport.decisioning.adapters.grpc_clients import (
    GrpcDeliveryClient,
    GrpcProfileClient,
    signal_from_bytes,
)
from rapport.decisioning.adapters.redis_contacts import RedisContactLedger
from rapport.decisioning.domain import names
from rapport.decisioning.domain.rules import RuleBook
from rapport.decisioning.domain.schedule import WindowTiming
from rapport.decisioning.entrypoints.grpc_servicer import DecisioningServicer
from rapport.decisioning.service_layer import commands
from rapport.decisioning.service_layer.config_io import (
    CatalogueLoad,
    load_catalogue,
    load_catalogue_when_reachable,
)
from rapport.decisioning.service_layer.dependencies import Dependencies, utc_now
from rapport.decisioning.service_layer.profile_read_model import ProfileReadModel
from rapport.decisioning.service_layer.trigger_activities import TriggerActivityPruner
from rapport.decisioning.service_layer.trigger_kinds import TriggerScheduler
from rapport.decisioning.service_layer.trigger_runner import TriggerRunner, is_transient
from rapport.decisioning.service_layer.unit_of_work import DecisioningUnitOfWork
from rapport.decisioning.service_layer.versions import publish_if_never_published
from rapport.decisioning.service_layer.window_backfill import WindowBackfiller
from rapport.decisioning.settings import DecisioningSettings
from rapport.decisioning.v1 import decisioning_service_pb2, decisioning_service_pb2_grpc
from rapport.errors import RapportError, Unavailable
from rapport.eventbus import ConsumerSpec, Delivery, DurableConsumer, LogSubjects, NatsBus
from rapport.grpcclients import open_channel
from rapport.grpcserver import ServiceParts
from rapport.jsonlogs import allow_extra_keys
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate
from rapport.versionedcache import redis_client
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"
ERROR_DOMAIN = "decisioning.rapport.dev"
SERVICE_NAME = decisioning_service_pb2.DESCRIPTOR.services_by_name["DecisioningService"].full_name
_DECIDE = ("Decide", "RecordOutcome")
_ADMIN = (
    "CreateAction", "UpdateAction", "DeleteAction", "CreateActionGroup", "UpdateActionGroup",
    "DeleteActionGroup", "CreateTrigger", "UpdateTrigger", "DeleteTrigger",
    "UpdateDecisionSettings", "PublishDecisionConfig", "RollbackDecisionConfig",
    "ImportDecisionConfig", "CreateModel", "UpdateModel", "DeleteModel", "SimulateDecisions",
    "CreateExperiment", "UpdateExperiment", "DeleteExperiment", "CreateConversionRule",
    "UpdateConversionRule", "DeleteConversionRule",
    "ExportCustomerDecisions", "EraseCustomerDecisions",
)  # fmt: skip
_READ = (
    "GetAction", "ListActions", "GetActionGroup", "ListActionGroups", "GetTrigger",
    "ListTriggers", "GetDecision", "ListDecisions", "GetOutcome", "ListOutcomes",
    "GetDecisionSettings", "GetDecisionConfigVersion", "ListDecisionConfigVersions",
    "DiffDecisionConfig", "ExportDecisionConfig", "GetModel", "ListModels", "EvaluatePolicy",
    "GetExperiment", "ListExperiments", "GetExperimentReport", "GetConversionRule",
    "ListConversionRules", "GetTriggerActivity", "ListTriggerActivities",
)  # fmt: skip
_METHOD_SCOPES = {
    **{method: "decisioning.decide" for method in _DECIDE},
    **{method: "decisioning.admin" for method in _ADMIN},
    **{method: "decisioning.read" for method in _READ},
}
METHOD_SCOPES = {f"/{SERVICE_NAME}/{method}": scope for method, scope in _METHOD_SCOPES.items()}


# The JetStream durable consumer the replicas share (with nats_url).
TRIGGER_CONSUMER = "decisioning-triggers"
TRIGGER_CONSUMER_SPEC = ConsumerSpec(TRIGGER_CONSUMER)


async def _consume(runner: TriggerRunner, delivery: Delivery) -> None:
    await runner.consume(delivery.workspace, signal_from_bytes(delivery.data))


async def _cursor(deps: Dependencies, workspace: str) -> str:
    """Where the trigger runner is in the workspace's signals: a recent position."""
    async with deps.uow(readonly=True) as uow:
        return await uow.signal_cursors.get(workspace)


class StartupError(RuntimeError):
    """The service cannot start with this configuration."""


async def _close(
    channels: list[grpc.aio.Channel], contact_store: RedisContactLedger | None, engine: AsyncEngine
) -> None:
    for channel in channels:
        await channel.close()
    if contact_store is not None:
        await contact_store.close()
    await engine.dispose()


def _catalogue_error(path: Path, workspace: str, err: RapportError) -> str:
    return f"catalogue file {path} (workspace {workspace}): {err.message}"


async def _load_catalogue(path: Path, deps: Dependencies) -> commands.LoadCatalogue | None:
    """Apply the file at start-up: StartupError when it cannot be applied (unreadable,
    invalid, a trigger naming a segment profile does not have); the command to apply
    later when profile could not be reached to confirm its triggers' segments."""
    try:
        catalogue, digest = catalogue_file.read_catalogue_and_digest(path)
    except catalogue_file.CatalogueFileError as err:
        raise StartupError(str(err)) from err
    command = commands.LoadCatalogue(catalogue, digest)
    try:
        loaded = await load_catalogue(command, deps)
    except Unavailable as err:
        # As for every peer: decisioning starts without profile (with the live version)
        # rather than waiting for it; the file follows once profile answers.
        log.warning(
            "catalogue file %s not applied yet: profile could not be reached to confirm "
            "the segments its triggers name; deciding with the live version, the file is "
            "applied once profile answers",
            path,
            extra={"workspace": catalogue.workspace, "error_reason": err.reason},
        )
        return command
    except RapportError as err:
        raise StartupError(_catalogue_error(path, catalogue.workspace, err)) from err
    _log_loaded(catalogue.workspace, loaded)
    return None


def _log_loaded(workspace: str, loaded: CatalogueLoad) -> None:
    extra = {"workspace": workspace, "count": loaded.actions + loaded.triggers}
    if not loaded.applied:
        log.info("catalogue file unchanged since it was applied: nothing done", extra=extra)
        return
    if loaded.draft_kept:
        # The reason names items and fields of the file, never customer data.
        log.warning(
            "catalogue file applied to the live version but not to the draft: publishing "
            "the draft would undo it",
            extra={**extra, "error_reason": loaded.draft_kept},
        )
    if loaded.version is not None:
        extra["resource"] = names.version_name(workspace, loaded.version)
    log.info("catalogue file applied", extra=extra)


async def _load_catalogue_later(
    path: Path, command: commands.LoadCatalogue, deps: Dependencies, settings: DecisioningSettings
) -> None:
    """The background half of a start-up that could not reach profile: the file applied
    once profile (and the database) answer. A file refused then cannot fail the start
    any more: it is logged as an error and left unapplied (its digest is not recorded,
    so the next start tries it again and refuses to start if it is still refused)."""
    workspace = command.catalogue.workspace
    try:
        loaded = await load_catalogue_when_reachable(
            command,
            deps,
            first_wait=settings.trigger_backoff_initial_seconds,
            max_wait=settings.trigger_backoff_max_seconds,
        )
    except RapportError as err:
        log.error(
            "%s; not applied (the live version is kept)",
            _catalogue_error(path, workspace, err),
            extra={
                "workspace": workspace,
                "error_reason": err.reason,
                **{k: v for k, v in err.metadata.items() if k in ("trigger", "segment")},
            },
        )
        return
    _log_loaded(workspace, loaded)


async def build(
    settings: DecisioningSettings, *, clock: Callable[[], datetime] = utc_now
) -> ServiceParts:
    # A decision's name: an id; a trait's key (never its value): no personal data.
    allow_extra_keys("decision", "trait")
    engine = create_engine(
        settings.database_url_or_default(),
        schema=settings.database_schema,
        sqlite_in_loop=settings.sqlite_in_loop,
    )
    channels = []
    contact_store = None
    try:
        await migrate(engine, MIGRATIONS, schema=settings.database_schema)
        profile_channel = open_channel(settings.profile_address, settings)
        consent_channel = open_channel(settings.consent_address, settings)
        delivery_channel = open_channel(settings.delivery_address, settings)
        channels = [profile_channel, consent_channel, delivery_channel]
        if settings.redis_url:
            contact_store = RedisContactLedger(
                redis_client(settings.redis_url, timeout_seconds=settings.redis_timeout_seconds),
                key_prefix=settings.redis_key_prefix,
            )
        profile = GrpcProfileClient(profile_channel)
        profile_cache = (
            ProfileReadModel(profile, settings.workspaces, settings.profile_cache_seconds)
            if settings.profile_cache_seconds > 0
            else None
        )
        deps = Dependencies(
            uow=functools.partial(DecisioningUnitOfWork, engine),
            profile=profile,
            consent=GrpcConsentClient(consent_channel),
            delivery=GrpcDeliveryClient(delivery_channel),
            workspaces=frozenset(settings.workspaces),
            rules=RuleBook(),
            page_tokens=PageTokens(settings.page_token_key),
            documents=catalogue_file.YamlConfigDocuments(),
            clock=clock,
            contact_store=contact_store,
            config_refresh_seconds=settings.config_refresh_seconds,
            model_refresh_seconds=settings.model_refresh_seconds,
            window_timing=WindowTiming.of(
                settings.time_window_fire_time,
                settings.time_zone_trait,
                settings.default_time_zone,
                timedelta(seconds=settings.time_window_late_after_seconds),
            ),
            profile_cache=profile_cache,
        )
        for workspace in deps.workspaces:
            await publish_if_never_published(deps, workspace)
        # The catalogue file to apply once profile answers (None: applied or unchanged).
        pending_catalogue: tuple[Path, commands.LoadCatalogue] | None = None
        if settings.catalogue_file is not None:
            command = await _load_catalogue(settings.catalogue_file, deps)
            if command is not None:
                pending_catalogue = (settings.catalogue_file, command)
    except BaseException:
        await _close(channels, contact_store, engine)
        raise

    servicer = DecisioningServicer(deps)

    async def close() -> None:
        await _close(channels, contact_store, engine)

    # Every replica prunes (with or without triggers): activities expire all the same.
    pruner = TriggerActivityPruner(
        deps,
        retention=settings.trigger_activity_retention,
        interval_seconds=settings.trigger_activity_prune_seconds,
    )
    background = [pruner.run]
    on_close = [close]
    if pending_catalogue is not None:
        background.append(
            functools.partial(_load_catalogue_later, *pending_catalogue, deps, settings)
        )
    if profile_cache is not None:
        background.append(functools.partial(profile_cache.run, functools.partial(_cursor, deps)))
    if settings.triggers_enabled:
        runner = TriggerRunner(
            deps,
            backoff_initial_seconds=settings.trigger_backoff_initial_seconds,
            backoff_max_seconds=settings.trigger_backoff_max_seconds,
        )
        if settings.nats_url:
            # Replicas share profile's signals through one JetStream durable consumer.
            bus = NatsBus(settings.nats_url, name=settings.service_name)
            consumer = DurableConsumer(
                bus,
                LogSubjects.from_settings(settings, "signals", service="profile"),
                TRIGGER_CONSUMER_SPEC,
                functools.partial(_consume, runner),
            )
            background.append(consumer.run)
            on_close.append(bus.close)
        else:
            background.append(runner.run)
        scheduler = TriggerScheduler(
            deps,
            is_transient,
            poll_seconds=settings.trigger_schedule_poll_seconds,
            lease=timedelta(seconds=settings.trigger_schedule_lease_seconds),
        )
        background.append(scheduler.run)
        # Windows published after customers got their date: scheduled from profile.
        backfiller = WindowBackfiller(
            deps,
            poll_seconds=settings.trigger_schedule_poll_seconds,
            lease=timedelta(seconds=settings.trigger_schedule_lease_seconds),
            backoff_initial_seconds=settings.trigger_backoff_initial_seconds,
            backoff_max_seconds=settings.trigger_backoff_max_seconds,
        )
        background.append(backfiller.run)

    return ServiceParts(
        register=[
            lambda server: decisioning_service_pb2_grpc.add_DecisioningServiceServicer_to_server(
                servicer, server
            )
        ],
        service_names=[SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        method_scopes=METHOD_SCOPES,
        background=background,
        on_close=on_close,
    )
