"""Reflection describes the google.rpc error details our statuses carry."""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from rapport.config import ServiceSettings
from rapport.grpctesting import serve_in_process

from ._echo import make_build

HEALTH = "grpc.health.v1.Health"


async def _files_for(address: str, symbol: str) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
        async for reply in stub.ServerReflectionInfo(iter([request])):
            files = [
                descriptor_pb2.FileDescriptorProto.FromString(raw)
                for raw in reply.file_descriptor_response.file_descriptor_proto
            ]
            return {f.name: f for f in files}
    return {}


async def test_a_service_file_brings_the_error_detail_types_along() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        files = await _files_for(server.address, HEALTH)
        details = await _files_for(server.address, "google.rpc.ErrorInfo")

    health_file = next(f for f in files.values() if any(s.name == "Health" for s in f.service))
    # A client that only follows the service file's imports (buf curl) finds them.
    assert "google/rpc/error_details.proto" in health_file.dependency
    error_details = files["google/rpc/error_details.proto"]
    assert {"ErrorInfo", "BadRequest"} <= {m.name for m in error_details.message_type}
    assert "google/rpc/error_details.proto" in details


async def test_services_without_a_descriptor_are_still_listed() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            replies = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"test.Echo", HEALTH} <= names
