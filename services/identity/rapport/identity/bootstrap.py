"""Wiring: engine, migrations, caches, dependencies, job runner, servicer -> ServiceParts."""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import partial
from pathlib import Path

from rapport.commitwatch import CommitNotifier, close_at_stop
from rapport.grpcserver import ServiceParts
from rapport.identity.adapters.cache import IdentifierCache, NoIdentifierCache, identifier_cache
from rapport.identity.adapters.rules_repository import load_default_rules
from rapport.identity.domain.rules import IdentityRules
from rapport.identity.entrypoints.converters import ChangeResponses
from rapport.identity.entrypoints.grpc_servicer import IdentityServicer
from rapport.identity.service_layer.deduplication_runner import DeduplicationJobRunner
from rapport.identity.service_layer.dependencies import (
    Clock,
    Dependencies,
    new_id,
    streamable_bytes,
    utc_now,
)
from rapport.identity.service_layer.graph_changes import PublishGraphChanges
from rapport.identity.service_layer.match_models import MatchModels
from rapport.identity.service_layer.rules_cache import RulesCache
from rapport.identity.service_layer.unit_of_work import IdentityUnitOfWork
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, is_sqlite, migrate
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "adapters" / "migrations"
SERVICE_NAME = identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
ERROR_DOMAIN = "identity.rapport.dev"


def _method(name: str) -> str:
    return f"/{SERVICE_NAME}/{name}"


# Every RPC of the contract (authorization is default-deny: an RPC missing here is refused).
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
    _method("GetMatchReview"): "identity.read",
    _method("ListMatchReviews"): "identity.read",
    _method("CreateDeduplicationJob"): "identity.admin",
    _method("ReviewMatch"): "identity.admin",
}


def build_dependencies(
    engine: AsyncEngine,
    *,
    workspaces: Collection[str],
    default_rules: IdentityRules | None = None,
    default_phone_region: str = "US",
    cache: IdentifierCache | None = None,
    page_tokens: PageTokens | None = None,
    clock: Clock = utc_now,
    id_factory: Callable[[], str] = new_id,
    watch_batch_size: int = 500,
    watch_poll_seconds: float = 0.5,
    max_message_bytes: int = 4 * 1024 * 1024,
    unit_of_work: type[IdentityUnitOfWork] = IdentityUnitOfWork,
) -> Dependencies:
    """Everything the use cases need, over one engine (build() and the tests wire it here).

    ``default_rules``: the rules of workspaces that never stored their own (None: the
    shipped YAML defaults). Every writing unit of work publishes its committed graph
    changes to ``cache`` and to the WatchChanges notifier (graph_changes.py).
    ``page_tokens``: None makes a key for this process only.
    """
    cache = cache if cache is not None else NoIdentifierCache()
    change_notifier = CommitNotifier()
    uow_factory = partial(
        unit_of_work, engine, after_commit=PublishGraphChanges(cache, change_notifier)
    )
    if default_rules is None:
        default_rules = load_default_rules(None, default_phone_region=default_phone_region)
    return Dependencies(
        uow_factory=uow_factory,
        workspaces=frozenset(workspaces),
        rules=RulesCache(uow_factory, default_rules, default_phone_region=default_phone_region),
        match_models=MatchModels(uow_factory, clock),
        cache=cache,
        change_notifier=change_notifier,
        page_tokens=page_tokens or PageTokens(None),
        change_encoder=ChangeResponses(),
        clock=clock,
        new_id=id_factory,
        watch_batch_size=watch_batch_size,
        watch_poll_seconds=watch_poll_seconds,
        watch_max_bytes=streamable_bytes(max_message_bytes),
    )


async def build(settings: IdentitySettings) -> ServiceParts:
    engine = create_engine(
        settings.database_url_or_default(),
        schema=settings.database_schema,
        sqlite_in_loop=settings.sqlite_in_loop,
    )
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=settings.database_schema)
        default_rules = load_default_rules(
            settings.default_rules_file, default_phone_region=settings.default_phone_region
        )
    except BaseException:
        await engine.dispose()
        raise

    cache = identifier_cache(
        redis_url=settings.redis_url,
        sqlite=is_sqlite(engine),
        key_prefix=settings.cache_key_prefix,
        ttl_seconds=settings.cache_ttl_seconds,
        max_entries=settings.cache_max_entries,
        timeout_seconds=settings.redis_timeout_seconds,
    )
    deps = build_dependencies(
        engine,
        workspaces=settings.workspaces,
        default_rules=default_rules,
        default_phone_region=settings.default_phone_region,
        cache=cache,
        page_tokens=PageTokens(settings.page_token_key),
        watch_batch_size=settings.watch_batch_size,
        watch_poll_seconds=settings.watch_poll_seconds,
        max_message_bytes=settings.max_message_bytes,
    )
    job_runner = DeduplicationJobRunner(deps)
    try:
        await job_runner.fail_interrupted_jobs()
    except BaseException:
        await cache.close()
        await engine.dispose()
        raise
    servicer = IdentityServicer(deps)
    return ServiceParts(
        register=[
            lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
                servicer, server
            )
        ],
        service_names=[SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        method_scopes=METHOD_SCOPES,
        background=[close_at_stop(deps.change_notifier), job_runner.run],
        on_close=[job_runner.close, cache.close, engine.dispose],
    )
