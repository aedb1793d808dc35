"""The collector never answers 500 to what a client sends: arbitrary JSON bodies and
batch items (Hypothesis) get 200 or 400, never a server error, and the server stays up."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapport.grpctesting import serve_fakes, serve_in_process
from rapport.identity.v1 import identity_service_pb2_grpc
from rapport.profile.bootstrap import build
from rapport.profile.settings import ProfileSettings

from ..conftest import FakeIdentity

WRITE_KEY = "wk-fuzz"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
segment_keys = st.sampled_from(
    [
        "type",
        "userId",
        "anonymousId",
        "messageId",
        "event",
        "name",
        "properties",
        "traits",
        "context",
        "groupId",
        "previousId",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "category",
    ]
)
items = st.dictionaries(segment_keys, json_values, max_size=8) | json_values
kinds = st.sampled_from(["identify", "track", "page", "screen", "group", "alias", "other"])


@pytest.fixture(scope="module")
def collector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A profile server on its own loop in a thread (Hypothesis examples are synchronous)."""
    ready: dict[str, Any] = {}
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        fake = FakeIdentity()
        async with serve_fakes(
            lambda s: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(fake, s)
        ) as address:
            settings = ProfileSettings(
                data_dir=Path(tmp_path_factory.mktemp("fuzz")),
                identity_address=address,
                follow_identity=False,
                write_keys={WRITE_KEY: "default"},
            )
            async with serve_in_process(build, settings) as running:
                ready["url"] = f"http://{running.http_address}"
                started.set()
                await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30)
    yield ready["url"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    batch=st.lists(items, max_size=5), extra=st.dictionaries(segment_keys, json_values, max_size=3)
)
def test_batches_of_anything_get_200_or_400(
    collector_url: str, batch: list[Any], extra: dict
) -> None:
    body = {**extra, "batch": batch}
    answer = httpx.post(f"{collector_url}/v1/batch", json=body, auth=(WRITE_KEY, ""), timeout=30)
    assert answer.status_code in (200, 400), answer.text
    assert answer.json()["success"] is (answer.status_code == 200)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=kinds, body=json_values)
def test_single_events_of_anything_get_200_or_400(collector_url: str, kind: str, body: Any) -> None:
    answer = httpx.post(
        f"{collector_url}/v1/{kind}",
        content=json.dumps(body).encode(),
        auth=(WRITE_KEY, ""),
        timeout=30,
    )
    expected = (404,) if kind == "other" else (200, 400)
    assert answer.status_code in expected, answer.text


def test_numbers_beyond_a_double_are_400(collector_url: str) -> None:
    body = b'{"userId": "a", "event": "E", "properties": {"n": 1' + b"0" * 400 + b"}}"
    answer = httpx.post(f"{collector_url}/v1/track", content=body, auth=(WRITE_KEY, ""))
    assert answer.status_code == 400 and "properties" in answer.json()["message"]
