"""With no UNSUBSCRIBE_SECRET, the closed loop's key is generated once and kept in
delivery's database: replicas sharing the database (a SQLite file, PostgreSQL) accept
each other's unsubscribe links and match a STOP reply to an SMS the other sent, a
restart keeps the key, replicas starting together agree, and a configured secret wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from rapport.delivery.adapters.signing_key_repository import SigningKeys
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.callback_signatures import twilio_signature
from rapport.delivery.service_layer.closed_loop import closed_loop_secret
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.grpctesting import HeldAfterRead
from rapport.sqlstore import create_engine, migrate
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, send_request
from .._loop_support import (
    PUBLIC_BASE_URL,
    SMS,
    LoopUpstreams,
    Running,
    loop_settings,
    loop_upstreams,
    serve,
    settled,
)
from .._stand_in import Received, Reply
from ..conftest import SmtpSink

PHONE = "+14155550123"
AUTH_TOKEN = "twilio-auth-token"
INBOUND = "/v1/providers/sms/twilio/inbound"
NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        fakes.profile.traits[CUSTOMER] = {
            "email": "ada@example.com",
            "phone": PHONE,
            "first_name": "Ada",
        }
        fakes.consent.grant(CUSTOMER)
        fakes.consent.grant(CUSTOMER, channel=SMS)
        yield fakes


def _twilio_created(request: Received) -> Reply:
    return Reply(201, {"sid": "SM" + request.headers.get("idempotency-key", "")})


def _unset_secret(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, sms_url: str, **database: Any
) -> DeliverySettings:
    sms = {
        "name": "sms",
        "base_url": sms_url,
        "account_sid": "AC1",
        "auth_token": AUTH_TOKEN,
        "from_number": "+15005550006",
        "timeout_seconds": 1.0,
    }
    return loop_settings(
        tmp_path, upstreams, smtp.port, unsubscribe_secret=None, sms_providers=[sms], **database
    )


async def _stop(running: Running) -> int:
    params = {"From": PHONE, "To": "+15005550006", "Body": "STOP", "MessageSid": "SMin1"}
    signature = twilio_signature(AUTH_TOKEN, PUBLIC_BASE_URL + INBOUND, params.items())
    answer = await running.http.post(
        INBOUND,
        content=urlencode(params),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
        },
    )
    return answer.status_code


async def _replicas_and_a_restart(
    settings: DeliverySettings, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(settings) as first, serve(settings) as second:
        mail = await first.stub.SendMessage(send_request("k-mail"))
        assert (await settled(first.stub, mail.name)).state == pb.MESSAGE_STATE_SENT
        [(_, sent)] = smtp.received
        path = "/" + sent["List-Unsubscribe"].strip("<>").split("/", 3)[3]
        # The other replica accepts the link the first signed.
        other_replica = (await second.http.post(path)).status_code
        sms = send_request(
            "k-sms",
            channel=channel_pb2.CHANNEL_SMS,
            content=message_content_pb2.MessageContent(text_body="Hi"),
        )
        sms = await second.stub.SendMessage(sms)
        assert (await settled(second.stub, sms.name)).state == pb.MESSAGE_STATE_SENT
        # A STOP reply reaching the first replica finds the SMS the second sent.
        assert await _stop(first) == 200
        stopped = (CUSTOMER, "marketing", SMS, "unsubscribe") in upstreams.consent.opt_outs()
    async with serve(settings) as restarted:
        after_restart = (await restarted.http.get(path)).status_code
    assert (other_replica, stopped, after_restart) == (200, True, 200)


async def test_replicas_on_one_sqlite_file_share_the_kept_key_across_restarts(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, stand_ins: Any
) -> None:
    api = await stand_ins(default=_twilio_created)
    await _replicas_and_a_restart(
        _unset_secret(tmp_path, upstreams, smtp, api.url), upstreams, smtp
    )


async def test_replicas_on_postgres_share_the_kept_key_across_restarts(
    tmp_path: Path,
    upstreams: LoopUpstreams,
    smtp: SmtpSink,
    stand_ins: Any,
    postgres_url: str,
    pg_schema: str,
) -> None:
    api = await stand_ins(default=_twilio_created)
    settings = _unset_secret(
        tmp_path, upstreams, smtp, api.url, database_url=postgres_url, database_schema=pg_schema
    )
    await _replicas_and_a_restart(settings, upstreams, smtp)


async def _first_starts_together(
    url: str, schema: str | None, monkeypatch: pytest.MonkeyPatch
) -> list[bytes]:
    """Two replicas' first starts: one stored its key and has not committed yet when
    the other stores its own."""
    engines = [create_engine(url, schema=schema) for _ in range(2)]
    try:
        await migrate(engines[0], MIGRATIONS_DIR, schema=schema)
        factories = [partial(DeliveryUnitOfWork, engine) for engine in engines]
        held = HeldAfterRead(monkeypatch, SigningKeys, "kept")
        first = asyncio.create_task(closed_loop_secret(None, factories[0], NOW))
        await asyncio.wait_for(held.reached.wait(), 10)
        second = asyncio.create_task(closed_loop_secret(None, factories[1], NOW))
        await asyncio.sleep(0.2)  # the second is waiting for the first's transaction
        held.release.set()
        keys = list(await asyncio.wait_for(asyncio.gather(first, second), 10))
        # Configured, the setting wins (and the kept key stays as it is).
        configured = await closed_loop_secret(SecretStr("mine"), factories[1], NOW)
        assert configured == b"mine"
        keys.append(await closed_loop_secret(None, factories[1], NOW))
        return keys
    finally:
        for engine in engines:
            await engine.dispose()


async def test_replicas_starting_together_on_sqlite_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}"
    first, second, later = await _first_starts_together(url, None, monkeypatch)
    assert len(first) == 32 and first == second == later


async def test_replicas_starting_together_on_postgres_agree(
    postgres_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, later = await _first_starts_together(postgres_url, pg_schema, monkeypatch)
    assert len(first) == 32 and first == second == later
