"""The access log: one line per call with the code it really ended with."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from ._wrapping import OPEN_SERVICE_PREFIXES, AroundEachCall

_access_log = logging.getLogger("rapport.access")


def _code_name(code: Any) -> str:
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    # grpc.aio may report the raw integer value.
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
    return str(code)


def _ended_early(context: grpc.aio.ServicerContext) -> str:
    # grpc cancels the call's task for both; only the clock tells them apart.
    remaining = context.time_remaining()
    return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"


class _CallRecord:
    """What the access log learns about one call, written when the call really ended."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.start = time.perf_counter()
        self.code: str | None = None  # set when the behaviour ended with an exception
        # The behaviour returned or aborted: context.code() is its final word.
        self.settled = False
        # The log line is written from grpc's done callback: keep the call's
        # context (its trace span) for it.
        self.log_context = contextvars.copy_context()

    def done(self, context: grpc.aio.ServicerContext) -> None:
        self.log_context.run(self._log, context)

    def _log(self, context: grpc.aio.ServicerContext) -> None:
        if self.code is not None:
            code = self.code
        elif not self.settled or not context.done():
            # The call ended while the behaviour was suspended (a stream whose
            # client went away), or before grpc could send the final status.
            code = _ended_early(context)
        else:
            code = _code_name(context.code())
        level = logging.DEBUG if self.method.startswith(OPEN_SERVICE_PREFIXES) else logging.INFO
        if _access_log.isEnabledFor(level):
            _access_log.log(
                level,
                "rpc",
                extra={
                    "method": self.method,
                    "code": code,
                    "duration_ms": round((time.perf_counter() - self.start) * 1000, 3),
                },
            )


class AccessLogInterceptor(AroundEachCall):
    """One line per call: method, final code, duration_ms. Never payloads or metadata.

    The line is written by grpc's done callback, once the call really ended.
    What that callback cannot see: a final send that grpc core fails after the
    behaviour returned (e.g. the peer vanished just then) still reads as the
    code the behaviour ended with.
    """

    @staticmethod
    @asynccontextmanager
    async def around(context: grpc.aio.ServicerContext, method: str) -> AsyncIterator[None]:
        record = _CallRecord(method)
        context.add_done_callback(record.done)
        try:
            yield
        except grpc.aio.AbortError:
            record.settled = True  # context.code() holds the status sent
            raise
        except Exception:
            # Escaped every mapping: grpc itself answers UNKNOWN.
            record.code = "UNKNOWN"
            raise
        except BaseException:
            # Cancelled task (client gone, deadline) or an abandoned stream.
            record.code = _ended_early(context)
            raise
        else:
            record.settled = True
