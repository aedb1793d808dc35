"""Wiring: engine, migrations, unit of work, servicer -> ServiceParts."""

from __future__ import annotations

from pathlib import Path

from rapport.grpcserver import ServiceParts
from rapport.identity.domain.identifiers import IdentifierPolicy
from rapport.identity.entrypoints.grpc_servicer import IdentityServicer
from rapport.identity.service_layer.handlers import IdentityContext
from rapport.identity.service_layer.unit_of_work import IdentityUnitOfWork
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from rapport.sqlstore import create_engine, migrate

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
}


async def build(settings: IdentitySettings) -> ServiceParts:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=settings.database_schema)
    except BaseException:
        await engine.dispose()
        raise

    def uow_factory(*, readonly: bool = False) -> IdentityUnitOfWork:
        return IdentityUnitOfWork(engine, readonly=readonly)

    ctx = IdentityContext(
        uow_factory=uow_factory,
        policy=IdentifierPolicy(
            known_types=frozenset(settings.identifier_types),
            default_phone_region=settings.default_phone_region,
        ),
        workspaces=frozenset(settings.workspaces),
    )
    servicer = IdentityServicer(ctx)
    return ServiceParts(
        register=[
            lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
                servicer, server
            )
        ],
        service_names=[SERVICE_NAME],
        error_domain="rapport.identity.v1",
        method_scopes=METHOD_SCOPES,
        on_close=[engine.dispose],
    )
