"""RapportError -> google.rpc.Status; anything else -> INTERNAL, logged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from rapport.errors import (
    RapportError,
)

from ._status import to_grpc_status
from ._wrapping import AroundEachCall

_error_log = logging.getLogger("rapport.errors")


class ErrorMappingInterceptor(AroundEachCall):
    """RapportError -> its status with one ErrorInfo; anything else -> INTERNAL."""

    def __init__(self, domain: str) -> None:
        super().__init__()
        self._domain = domain

    @asynccontextmanager
    async def around(self, context: grpc.aio.ServicerContext, method: str) -> AsyncIterator[None]:
        try:
            yield
        except grpc.aio.AbortError:
            raise  # the handler aborted with its own status
        except RapportError as err:
            await context.abort_with_status(to_grpc_status(err, self._domain))
        except NotImplementedError:
            # The generated servicer base raises it for RPCs not built yet.
            await context.abort_with_status(to_grpc_status(_Unimplemented(method), self._domain))
        except Exception:
            # The message may contain anything (even input); log it, never send it.
            _error_log.exception("unhandled error", extra={"method": method})
            await context.abort_with_status(to_grpc_status(_Internal(), self._domain))


class _Unimplemented(RapportError):
    code = "UNIMPLEMENTED"

    def __init__(self, method: str) -> None:
        super().__init__("NOT_IMPLEMENTED", f"{method} is not implemented yet", {"method": method})


class _Internal(RapportError):
    code = "INTERNAL"

    def __init__(self) -> None:
        super().__init__("INTERNAL", "internal error")
