"""rapport.eventloop: uvloop by default, asyncio's own on request; SIGTERM still drains."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from rapport import eventloop
from rapport.config import ServiceSettings


async def loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_by_default() -> None:
    assert issubclass(eventloop.run(loop_type()), uvloop.Loop)
    assert ServiceSettings().event_loop == "uvloop"


def test_asyncio_on_request() -> None:
    kind = eventloop.run(loop_type(), "asyncio")
    assert not issubclass(kind, uvloop.Loop)
    assert issubclass(kind, asyncio.AbstractEventLoop)


def test_an_unknown_loop_is_refused_without_running_anything() -> None:
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    with pytest.raises(ValueError, match="unknown event loop"):
        eventloop.run(work(), "trio")  # type: ignore[arg-type]
    assert ran == []


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_EVENT_LOOP", "asyncio")
    assert ServiceSettings().event_loop == "asyncio"
    monkeypatch.setenv("RAPPORT_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        ServiceSettings()
