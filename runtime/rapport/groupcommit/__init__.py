"""Group commit: concurrent callers' items written together, each caller answered once
the write that holds its item is done.

Items submitted while one batch is being written wait for the next, which takes up to
`max_batch` of them: under load a transaction carries many items (one commit, a few
multi-row statements) instead of one each, and a lone caller waits for nobody. The
write function answers per item (a result, or the exception that item alone raises);
an exception escaping it fails the whole batch's callers (write functions fall back
to one item at a time themselves so that one bad item fails alone).

Under load (a batch was written within the last BUSY_SECONDS) the writer lingers
`linger` seconds before taking a batch, so that callers arriving a moment apart share it
instead of each paying for a transaction of its own; an idle writer takes a lone
caller at once.

A caller that goes away (cancelled) does not take its item out: it may be written all
the same, as a unit of work that had committed before the caller left would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Per item of a batch: its result, or the exception its caller gets.
WriteBatch = Callable[[Sequence[T]], Awaitable[Sequence["R | BaseException"]]]


# A batch written this recently means the writer is under load (it may linger).
BUSY_SECONDS = 0.05


class GroupCommit(Generic[T, R]):
    def __init__(self, max_batch: int = 256, *, linger: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if not 0 <= linger < BUSY_SECONDS:
            raise ValueError(f"linger must be in [0, {BUSY_SECONDS})")
        self.max_batch = max_batch
        self.linger = linger
        self._busy_until = 0.0
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Future[None] | None = None
        # Batches written since the start, and items in them (for tests and logs).
        self.batches = 0
        self.items = 0

    async def submit(self, item: T, write: WriteBatch[T, R]) -> R:
        """`item` written (in a batch with whatever else is waiting); its result."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain(write))
        return await done

    async def _drain(self, write: WriteBatch[T, R]) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                if (
                    self.linger
                    and len(self._waiting) < self.max_batch
                    and loop.time() < self._busy_until
                ):
                    await asyncio.sleep(self.linger)
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                try:
                    results: Sequence[R | BaseException] = await write([i for i, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError("a batch write answered for another number of items")
                except Exception as err:
                    results = [err] * len(batch)
                self.batches += 1
                self.items += len(batch)
                self._busy_until = loop.time() + BUSY_SECONDS
                for (_, done), result in zip(batch, results, strict=True):
                    if done.done():
                        continue
                    if isinstance(result, BaseException):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
                batch = []
        finally:
            # Cancelled (shutting down): nobody is left waiting for an answer forever.
            for _, done in [*batch, *self._waiting]:
                if not done.done():
                    done.cancel()
            self._waiting.clear()
