"""RapportError -> google.rpc.Status (one ErrorInfo, BadRequest for bad input)."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from rapport.errors import InvalidArgument, RapportError


def grpc_code(err: RapportError) -> grpc.StatusCode:
    try:
        return grpc.StatusCode[err.code]
    except KeyError:
        return grpc.StatusCode.UNKNOWN


def to_grpc_status(err: RapportError, domain: str) -> grpc.Status:
    status = status_pb2.Status(code=grpc_code(err).value[0], message=err.message)
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=domain, metadata=err.metadata)
    status.details.add().Pack(info)
    if isinstance(err, InvalidArgument):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=err.field, description=err.description
        )
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return rpc_status.to_status(status)
