"""The incoming deadline, kept for outbound calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from rapport.deadlines import reset_deadline, set_deadline

from ._wrapping import AroundEachCall


class DeadlineInterceptor(AroundEachCall):
    """Keeps the incoming deadline in a contextvar for outbound calls."""

    @staticmethod
    @asynccontextmanager
    async def around(context: grpc.aio.ServicerContext, _method: str) -> AsyncIterator[None]:
        remaining = context.time_remaining()
        # Absurdly large values mean "no deadline" on some grpc versions.
        if remaining is not None and remaining > 10**8:
            remaining = None
        token = set_deadline(remaining)
        try:
            yield
        finally:
            reset_deadline(token)
