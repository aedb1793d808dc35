"""Server reflection that also serves the google.rpc error-detail types.

Our errors carry `google.rpc.ErrorInfo` and `BadRequest` in `google.protobuf.Any`
details. Reflection clients such as `buf curl` only know the files reachable from
the service's own file, and no contract imports `google/rpc/error_details.proto`,
so they printed the details as base64. Reflection here answers from a pool where
each service's file lists that file as one more dependency.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

ERROR_DETAILS_FILE = error_details_pb2.DESCRIPTOR

__all__ = ["enable_reflection"]


def _reflection_pool(service_names: Iterable[str]) -> descriptor_pool.DescriptorPool:
    default = descriptor_pool.Default()
    service_files = set()
    for name in service_names:
        try:
            service_files.add(default.FindFileContainingSymbol(name))
        except KeyError:
            continue  # a service without a descriptor (raw bytes): listed, not described
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        dependencies = list(file.dependencies)
        if file in service_files and ERROR_DETAILS_FILE not in dependencies:
            dependencies.append(ERROR_DETAILS_FILE)
        for dependency in dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        for dependency in dependencies[len(file.dependencies) :]:
            proto.dependency.append(dependency.name)
        pool.Add(proto)
        added.add(file.name)

    for file in sorted(service_files, key=lambda f: f.name):
        add(file)
    return pool


def enable_reflection(server: object, service_names: list[str]) -> None:
    """Reflection for `service_names` (and everything their files import)."""
    names = [*service_names, reflection.SERVICE_NAME]
    # The asyncio servicer named directly: the library picks it by isinstance on the
    # server, and the runtime registers through a wrapper (GenericHandlersOnly).
    servicer = reflection.aio.ReflectionServicer(names, pool=_reflection_pool(names))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
