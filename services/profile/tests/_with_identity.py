"""Profile with the real identity service, both in process: for tests of what identity's
answers make profile do (aliases, refused identifiers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from rapport.grpctesting import serve_in_process
from rapport.identity.bootstrap import build as build_identity
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2_grpc
from rapport.profile.bootstrap import build as build_profile
from rapport.profile.settings import ProfileSettings
from rapport.profile.v1 import profile_service_pb2_grpc

Stub = Any


@asynccontextmanager
async def profile_with_identity(
    tmp_path: Path, write_key: str
) -> AsyncIterator[tuple[Stub, Stub, str]]:
    """(profile stub, identity stub, collector URL, where ``write_key`` maps to the
    default workspace)."""
    identity_settings = IdentitySettings(data_dir=tmp_path / "identity", workspaces=["default"])
    async with serve_in_process(build_identity, identity_settings) as identity:
        settings = ProfileSettings(
            data_dir=tmp_path / "profile",
            identity_address=identity.address,
            workspaces=["default"],
            follow_identity=False,
            write_keys={write_key: "default"},
        )
        async with serve_in_process(build_profile, settings) as profile:
            async with (
                grpc.aio.insecure_channel(identity.address) as identity_channel,
                grpc.aio.insecure_channel(profile.address) as profile_channel,
            ):
                yield (
                    profile_service_pb2_grpc.ProfileServiceStub(profile_channel),
                    identity_service_pb2_grpc.IdentityServiceStub(identity_channel),
                    f"http://{profile.http_address}",
                )
