"""A started server settles the process's heap once: start-up objects frozen, full
collections made rarer."""

from __future__ import annotations

import gc

from rapport.config import ServiceSettings
from rapport.grpcserver import ServiceParts, settle_heap, start


async def test_a_started_server_froze_the_start_up_heap() -> None:
    settings = ServiceSettings(service_name="heap", host="127.0.0.1", port=0)
    running = await start(ServiceParts(register=[], service_names=[], error_domain="x"), settings)
    try:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] == 100
        frozen = gc.get_freeze_count()
        settle_heap()  # once per process: a second server changes nothing
        assert gc.get_freeze_count() == frozen
    finally:
        await running.stop(grace=0, drain=0)
