"""Protobuf-typed test messages and a test service using them.

The message types are built at import time from a descriptor (no generated
code in the runtime): strings at every depth, repeated fields, a oneof, maps
with string and message values, free-form Struct/Value/ListValue/Any fields
and a recursive field, so ``named_workspaces`` is tested on every shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    struct_pb2,
    text_format,
    wrappers_pb2,
)
from rapport.config import ServiceSettings
from rapport.errors import NotFound
from rapport.grpcserver import EncodedResponse, ServiceParts

# Our file depends on these: loaded into the default pool before it.
_DEPENDENCIES = (any_pb2.DESCRIPTOR, struct_pb2.DESCRIPTOR)

SERVICE = "test.Typed"
DOMAIN = "rapport.typed.v1"

_FILE = """
name: "rapport_runtime_tests/typed.proto"
package: "rapport.runtimetests"
dependency: "google/protobuf/struct.proto"
dependency: "google/protobuf/any.proto"
syntax: "proto3"
message_type {
  name: "Ref"
  field { name: "name" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
}
message_type {
  name: "Numbers"
  field { name: "a" number: 1 type: TYPE_INT64 label: LABEL_OPTIONAL }
  field { name: "b" number: 2 type: TYPE_DOUBLE label: LABEL_REPEATED }
  field { name: "next" number: 3 type: TYPE_MESSAGE label: LABEL_OPTIONAL
          type_name: ".rapport.runtimetests.Numbers" }
  field { name: "counts" number: 4 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".rapport.runtimetests.Numbers.CountsEntry" }
  nested_type {
    name: "CountsEntry"
    field { name: "key" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
    field { name: "value" number: 2 type: TYPE_INT64 label: LABEL_OPTIONAL }
    options { map_entry: true }
  }
}
message_type {
  name: "Req"
  field { name: "parent" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
  field { name: "names" number: 2 type: TYPE_STRING label: LABEL_REPEATED }
  field { name: "customer" number: 3 type: TYPE_STRING label: LABEL_OPTIONAL oneof_index: 0 }
  field { name: "ref" number: 4 type: TYPE_MESSAGE label: LABEL_OPTIONAL oneof_index: 0
          type_name: ".rapport.runtimetests.Ref" }
  field { name: "nested" number: 5 type: TYPE_MESSAGE label: LABEL_OPTIONAL
          type_name: ".rapport.runtimetests.Ref" }
  field { name: "refs" number: 6 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".rapport.runtimetests.Ref" }
  field { name: "labels" number: 7 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".rapport.runtimetests.Req.LabelsEntry" }
  field { name: "ref_map" number: 8 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".rapport.runtimetests.Req.RefMapEntry" }
  field { name: "data" number: 9 type: TYPE_MESSAGE label: LABEL_OPTIONAL
          type_name: ".google.protobuf.Struct" }
  field { name: "value" number: 10 type: TYPE_MESSAGE label: LABEL_OPTIONAL
          type_name: ".google.protobuf.Value" }
  field { name: "list" number: 11 type: TYPE_MESSAGE label: LABEL_OPTIONAL
          type_name: ".google.protobuf.ListValue" }
  field { name: "extra" number: 12 type: TYPE_MESSAGE label: LABEL_OPTIONAL
          type_name: ".google.protobuf.Any" }
  field { name: "child" number: 13 type: TYPE_MESSAGE label: LABEL_OPTIONAL
          type_name: ".rapport.runtimetests.Req" }
  field { name: "count" number: 14 type: TYPE_INT64 label: LABEL_OPTIONAL }
  field { name: "blob" number: 15 type: TYPE_BYTES label: LABEL_OPTIONAL }
  field { name: "numbers" number: 16 type: TYPE_MESSAGE label: LABEL_OPTIONAL
          type_name: ".rapport.runtimetests.Numbers" }
  nested_type {
    name: "LabelsEntry"
    field { name: "key" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
    field { name: "value" number: 2 type: TYPE_STRING label: LABEL_OPTIONAL }
    options { map_entry: true }
  }
  nested_type {
    name: "RefMapEntry"
    field { name: "key" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
    field { name: "value" number: 2 type: TYPE_MESSAGE label: LABEL_OPTIONAL
            type_name: ".rapport.runtimetests.Ref" }
    options { map_entry: true }
  }
  oneof_decl { name: "target" }
}
message_type {
  name: "Batch"
  field { name: "parent" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
  field { name: "requests" number: 2 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".rapport.runtimetests.Req" }
}
"""


def _load() -> dict[str, Any]:
    pool = descriptor_pool.Default()
    try:
        file = pool.FindFileByName("rapport_runtime_tests/typed.proto")
    except KeyError:  # first import in this process
        pool.Add(text_format.Parse(_FILE, descriptor_pb2.FileDescriptorProto()))
        file = pool.FindFileByName("rapport_runtime_tests/typed.proto")
    return {
        name: message_factory.GetMessageClass(file.message_types_by_name[name])
        for name in ("Ref", "Numbers", "Req", "Batch")
    }


_types = _load()
Ref = _types["Ref"]
Numbers = _types["Numbers"]
Req = _types["Req"]
Batch = _types["Batch"]


async def get(request: Any, context: Any) -> Any:
    return request


async def watch(request: Any, context: Any) -> AsyncIterator[Any]:
    yield request
    yield request


async def struct_echo(request: struct_pb2.Struct, context: Any) -> struct_pb2.Struct:
    return request


async def struct_stream(request: struct_pb2.Struct, context: Any) -> AsyncIterator[Any]:
    yield request


async def sized(request: wrappers_pb2.Int64Value, context: Any) -> wrappers_pb2.BytesValue:
    return wrappers_pb2.BytesValue(value=b"x" * request.value)


async def sized_encoded(request: wrappers_pb2.Int64Value, context: Any) -> EncodedResponse:
    # As a servicer answering from bytes it keeps (e.g. a cache).
    return EncodedResponse(wrappers_pb2.BytesValue(value=b"x" * request.value).SerializeToString())


async def sized_stream(
    request: wrappers_pb2.Int64Value, context: Any
) -> AsyncIterator[wrappers_pb2.BytesValue]:
    yield wrappers_pb2.BytesValue(value=b"small")
    yield wrappers_pb2.BytesValue(value=b"x" * request.value)
    yield wrappers_pb2.BytesValue(value=b"never sent")


async def sized_writes(request: wrappers_pb2.Int64Value, context: Any) -> None:
    # A stream written with context.write() from a coroutine.
    await context.write(wrappers_pb2.BytesValue(value=b"small"))
    await context.write(wrappers_pb2.BytesValue(value=b"x" * request.value))


async def abort(request: Any, context: Any) -> Any:
    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "aborted by the handler")


async def not_found(request: Any, context: Any) -> Any:
    raise NotFound("workspaces/default/things/x")


async def hang_stream(request: Any, context: Any) -> AsyncIterator[Any]:
    yield request
    await asyncio.Event().wait()


def _unary(behaviour: Any, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=request_type.FromString,
        response_serializer=response_type.SerializeToString,
    )


def _stream(behaviour: Any, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
    return grpc.unary_stream_rpc_method_handler(
        behaviour,
        request_deserializer=request_type.FromString,
        response_serializer=response_type.SerializeToString,
    )


I64, BYTES = wrappers_pb2.Int64Value, wrappers_pb2.BytesValue
HANDLERS = {
    "Get": _unary(get, Req, Req),
    "Watch": _stream(watch, Req, Req),
    "GetBatch": _unary(get, Batch, Batch),
    "Struct": _unary(struct_echo, struct_pb2.Struct, struct_pb2.Struct),
    "StructStream": _stream(struct_stream, struct_pb2.Struct, struct_pb2.Struct),
    "Sized": _unary(sized, I64, BYTES),
    "SizedEncoded": _unary(sized_encoded, I64, BYTES),
    "SizedStream": _stream(sized_stream, I64, BYTES),
    "SizedWrites": _stream(sized_writes, I64, BYTES),
    "Abort": _unary(abort, Req, Req),
    "NotFound": _unary(not_found, Req, Req),
    "HangStream": _stream(hang_stream, Req, Req),
}
# Every method is in the policy except "Unlisted" (default deny).
METHOD_SCOPES = {f"/{SERVICE}/{name}": "typed.read" for name in HANDLERS}


def method(name: str) -> str:
    return f"/{SERVICE}/{name}"


def make_build(**part_kwargs: Any) -> Any:
    part_kwargs.setdefault("method_scopes", METHOD_SCOPES)

    async def build(settings: ServiceSettings) -> ServiceParts:
        handlers = {**HANDLERS, "Unlisted": _unary(get, Req, Req)}
        generic = grpc.method_handlers_generic_handler(SERVICE, handlers)
        return ServiceParts(
            register=[lambda server: server.add_generic_rpc_handlers((generic,))],
            service_names=[SERVICE],
            error_domain=DOMAIN,
            **part_kwargs,
        )

    return build
