"""Wiring: engine, migrations, unit of work, servicer -> ServiceParts."""

from __future__ import annotations

import gc
from pathlib import Path

from rapport.commitwatch import CommitNotifier, close_at_stop
from rapport.grpcserver import ServiceParts
from rapport.identity.adapters.cache import identifier_cache
from rapport.identity.adapters.rules_repository import load_default_rules
from rapport.identity.entrypoints.grpc_servicer import IdentityServicer
from rapport.identity.service_layer.handlers import IdentityContext
from rapport.identity.service_layer.matching_jobs import MatchingService
from rapport.identity.service_layer.merging import merge_customer_groups
from rapport.identity.service_layer.unit_of_work import IdentityUnitOfWork
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from rapport.sqlstore import create_engine, is_sqlite, migrate

MIGRATIONS_DIR = Path(__file__).parent / "adapters" / "migrations"
SERVICE_NAME = identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


def _method(name: str) -> str:
    return f"/{SERVICE_NAME}/{name}"


METHOD_SCOPES = {
    _method("Resolve"): "identity.write",
    _method("BatchResolve"): "identity.write",
    _method("GetCustomer"): "identity.read",
    _method("LookupCustomer"): "identity.read",
    _method("ListCustomers"): "identity.read",
    _method("GetIdentityRules"): "identity.read",
    _method("UpdateIdentityRules"): "identity.admin",
    _method("UnmergeCustomer"): "identity.admin",
    _method("EraseCustomer"): "identity.admin",
    _method("WatchChanges"): "identity.read",
    _method("FindMatches"): "identity.read",
    _method("GetDeduplicationJob"): "identity.read",
    _method("ListDeduplicationJobs"): "identity.read",
    _method("ListMatchReviews"): "identity.read",
    _method("CreateDeduplicationJob"): "identity.admin",
    _method("ReviewMatch"): "identity.admin",
}


async def build(settings: IdentitySettings) -> ServiceParts:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=settings.database_schema)
    except BaseException:
        await engine.dispose()
        raise

    change_notifier = CommitNotifier()
    cache = identifier_cache(
        redis_url=settings.redis_url,
        sqlite=is_sqlite(engine),
        key_prefix=settings.cache_key_prefix,
        ttl_seconds=settings.cache_ttl_seconds,
        max_entries=settings.cache_max_entries,
        timeout_seconds=settings.redis_timeout_seconds,
    )

    def uow_factory(*, readonly: bool = False) -> IdentityUnitOfWork:
        uow = IdentityUnitOfWork(engine, readonly=readonly)
        uow.on_commit = change_notifier.notify
        return uow

    ctx = IdentityContext(
        uow_factory=uow_factory,
        default_rules=load_default_rules(
            settings.default_rules_file, default_phone_region=settings.default_phone_region
        ),
        default_phone_region=settings.default_phone_region,
        workspaces=frozenset(settings.workspaces),
        cache=cache,
        change_notifier=change_notifier,
        watch_batch_size=settings.watch_batch_size,
        watch_poll_seconds=settings.watch_poll_seconds,
    )
    servicer = IdentityServicer(ctx)
    servicer.matching = MatchingService(ctx, merge_customer_groups)
    try:
        await servicer.matching.fail_interrupted_jobs()
    except BaseException:
        await engine.dispose()
        raise
    _freeze_start_up_objects()
    return ServiceParts(
        register=[
            lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
                servicer, server
            )
        ],
        service_names=[SERVICE_NAME],
        error_domain="rapport.identity.v1",
        method_scopes=METHOD_SCOPES,
        background=[close_at_stop(change_notifier)],
        on_close=[servicer.matching.close, cache.close, engine.dispose],
    )


_start_up_frozen = False


def _freeze_start_up_objects() -> None:
    """Keep what start-up created (modules, descriptors, engine) out of full GC passes.

    Those objects live as long as the process; scanning them made each full
    collection a ~60 ms pause in the middle of large BatchResolve calls
    (measured with bench/bench_identity_resolve.py). Once per process: tests
    build many servers in one.
    """
    global _start_up_frozen
    if not _start_up_frozen:
        _start_up_frozen = True
        gc.collect()
        gc.freeze()
