"""Fixtures of the consent service tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc

from ._consent_support import FakeClock, consent_stub


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> ConsentSettings:
    return ConsentSettings(data_dir=tmp_path, workspaces=["default", "brand2"])


@pytest.fixture
async def stub(
    sqlite_settings: ConsentSettings, clock: FakeClock
) -> AsyncIterator[pb_grpc.ConsentServiceStub]:
    async with consent_stub(sqlite_settings, clock) as consent:
        yield consent
