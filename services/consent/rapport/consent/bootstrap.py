"""Wires the consent service: storage, migrations, cache, servicer."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from pathlib import Path

from rapport.commitwatch import close_at_stop
from rapport.consent.adapters.cache import (
    InProcessStateCache,
    NoStateCache,
    RedisStateCache,
    StateCache,
)
from rapport.consent.adapters.identity_changes import IdentityChanges
from rapport.consent.adapters.subject_rights import subject_rights_peers
from rapport.consent.domain.subject_requests import RetryPolicy, Service
from rapport.consent.entrypoints.grpc_servicer import ConsentServicer
from rapport.consent.service_layer.dependencies import Clock, Dependencies, utc_now
from rapport.consent.service_layer.identity_follow import IdentityFollower
from rapport.consent.service_layer.subject_request_worker import SubjectRequestWorker
from rapport.consent.service_layer.unit_of_work import ConsentUnitOfWork
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.grpcserver import ServiceParts
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, is_sqlite, migrate

_log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "adapters" / "migrations"
SERVICE_NAME = consent_service_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name
ERROR_DOMAIN = "consent.rapport.dev"
# Every RPC of the contract (authorization is default-deny: an RPC missing here is refused).
METHOD_SCOPES = {
    f"/{SERVICE_NAME}/RecordConsent": "consent.write",
    f"/{SERVICE_NAME}/GetConsentRecord": "consent.read",
    f"/{SERVICE_NAME}/ListConsentRecords": "consent.read",
    f"/{SERVICE_NAME}/CheckConsent": "consent.read",
    f"/{SERVICE_NAME}/BatchCheckConsent": "consent.read",
    # Streams every decision of a workspace (delivery cancels queued messages on opt-outs).
    f"/{SERVICE_NAME}/WatchConsentRecords": "consent.watch",
    # Data subject requests: an erasure reaches every service, and an access's results
    # hold personal data from all of them, hence scopes of their own.
    f"/{SERVICE_NAME}/CreateDataSubjectRequest": "consent.subject_requests.write",
    f"/{SERVICE_NAME}/GetDataSubjectRequest": "consent.subject_requests.read",
    f"/{SERVICE_NAME}/ListDataSubjectRequests": "consent.subject_requests.read",
}


def _state_cache(settings: ConsentSettings, sqlite: bool) -> StateCache:
    if settings.redis_url:
        return RedisStateCache.from_url(
            settings.redis_url,
            timeout_seconds=settings.redis_timeout_seconds,
            key_prefix=settings.cache_key_prefix,
            ttl_seconds=settings.cache_ttl_seconds,
        )
    if sqlite:
        # One process per SQLite database by design: invalidation in-process is complete.
        return InProcessStateCache(max_entries=settings.cache_max_entries)
    # PostgreSQL without Redis means possibly several replicas that cannot invalidate
    # each other's memory: no cache at all rather than a withdrawn consent served stale.
    return NoStateCache()


async def build(settings: ConsentSettings, *, clock: Clock = utc_now) -> ServiceParts:
    engine = create_engine(
        settings.database_url_or_default(),
        schema=settings.database_schema,
        sqlite_in_loop=settings.sqlite_in_loop,
    )
    await migrate(engine, MIGRATIONS_DIR, schema=settings.database_schema)
    cache = _state_cache(settings, is_sqlite(engine))
    _log.info("consent cache ready", extra={"action": type(cache).__name__})
    # Data subject requests reach the services this deployment names.
    peers = subject_rights_peers(
        {
            Service.IDENTITY: settings.identity_address,
            Service.PROFILE: settings.profile_address,
            Service.DECISIONING: settings.decisioning_address,
            Service.DELIVERY: settings.delivery_address,
        },
        settings,
        settings.subject_request_call_deadline_seconds,
    )
    deps = Dependencies(
        uow_factory=partial(ConsentUnitOfWork, engine),
        cache=cache,
        workspaces=tuple(settings.workspaces),
        page_tokens=PageTokens(settings.page_token_key),
        clock=clock,
        watch_poll_seconds=settings.watch_poll_seconds,
        subject_rights=peers,
        subject_request_retry=RetryPolicy(
            min_backoff=timedelta(seconds=settings.subject_request_min_backoff_seconds),
            max_backoff=timedelta(seconds=settings.subject_request_max_backoff_seconds),
        ),
        access_retention=timedelta(seconds=settings.subject_request_access_retention_seconds),
    )
    servicer = ConsentServicer(deps)
    worker = SubjectRequestWorker(
        deps,
        poll_seconds=settings.subject_request_poll_seconds,
        lease=timedelta(seconds=settings.subject_request_lease_seconds),
    )
    background = [close_at_stop(deps.notifier), worker.run]
    on_close = [*(peer.close for peer in peers), cache.close, engine.dispose]
    if settings.identity_address:
        # Identity's merges and unmerges: a merged customer answers as the survivor.
        changes = IdentityChanges(settings.identity_address, settings)
        follower = IdentityFollower(
            deps,
            changes,
            min_backoff=settings.identity_follow_min_backoff_seconds,
            max_backoff=settings.identity_follow_max_backoff_seconds,
        )
        background.append(follower.run)
        on_close.insert(0, changes.close)
    return ServiceParts(
        register=[
            lambda server: consent_service_pb2_grpc.add_ConsentServiceServicer_to_server(
                servicer, server
            )
        ],
        service_names=[SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        method_scopes=METHOD_SCOPES,
        background=background,
        on_close=on_close,
    )
