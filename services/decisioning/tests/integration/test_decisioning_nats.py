"""Triggers from NATS JetStream (real server and PostgreSQL, CI=true): with nats_url set,
two decisioning replicas share profile's signals through one durable consumer; every
signal fires its trigger once, and a replayed signal sends nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.eventbus import CURSOR_HEADER, MSG_ID_HEADER, LogSubjects, StreamSpec, ensure_stream
from rapport.grpctesting import eventually
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.type.v1 import channel_pb2

PARENT = "workspaces/default"
SIGNALS = 40
CUSTOMERS = [f"workspaces/default/customers/n{i}" for i in range(8)]
CATALOGUE = """
settings:
  contact_limits: []
actions:
  - id: nudge
    channels: [email]
    purpose: marketing
    value: 10.0
    content: {subject: "Hi", text_body: "Hi"}
triggers:
  - id: on-visit
    event_name: Site Visited
    action: nudge
    channel: email
"""


@pytest.fixture
async def subjects(nats_url: str) -> AsyncIterator[LogSubjects]:
    subjects = LogSubjects("profile", "signals", prefix=f"t{uuid.uuid4().hex[:12]}", partitions=4)
    yield subjects
    client = await nats.connect(nats_url)
    try:
        await client.jetstream().delete_stream(subjects.stream)
    except Exception:  # never created: nothing to delete
        pass
    finally:
        await client.close()


def visit(cursor: int, customer: str) -> profile_pb.Signal:
    event = profile_pb.Event(
        type=profile_pb.EVENT_TYPE_TRACK,
        message_id=f"visit-{cursor}",
        event="Site Visited",
        customer=customer,
    )
    event.event_time.GetCurrentTime()
    return profile_pb.Signal(
        cursor=str(cursor),
        kind=profile_pb.SIGNAL_KIND_EVENT_SEEN,
        customer=customer,
        event_seen=profile_pb.EventSeen(event=event),
    )


async def test_replicas_share_the_signals_of_the_durable_consumer(
    serve, make_settings, fake_services, nats_url, subjects, postgres_url, pg_schema, tmp_path
):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    for customer in CUSTOMERS:
        fake_services.profile.traits[customer] = {}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    settings = make_settings(
        database_url=postgres_url,
        database_schema=pg_schema,
        catalogue_file=path,
        triggers_enabled=True,
        nats_url=nats_url,
        nats_subject_prefix=subjects.prefix,
        nats_partitions=subjects.partitions,
    )
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await ensure_stream(js, StreamSpec.for_log(subjects))

        async def publish(signal: profile_pb.Signal, *, msg_id: str | None = None) -> None:
            cursor = int(signal.cursor)
            await js.publish(
                subjects.subject("default", "event_seen", signal.customer),
                signal.SerializeToString(),
                headers={
                    CURSOR_HEADER: signal.cursor,
                    MSG_ID_HEADER: msg_id or subjects.message_id(cursor),
                },
            )

        async with serve(settings) as stub, serve(settings):
            for n in range(1, SIGNALS + 1):
                await publish(visit(n, CUSTOMERS[n % len(CUSTOMERS)]))
            # A replay (published again under another id): its key was used already.
            await publish(visit(1, CUSTOMERS[1]), msg_id="replayed-1")
            # Unparseable bytes do not stop the consumer.
            await js.publish(
                subjects.subject("default", "event_seen", "x"),
                b"\xff\xff not a signal",
                headers={CURSOR_HEADER: "999"},
            )
            await publish(visit(SIGNALS + 1, CUSTOMERS[0]))
            expected = {f"trigger:on-visit:visit-{n}" for n in range(1, SIGNALS + 2)}
            await eventually(lambda: set(fake_services.delivery.keys) == expected, timeout=30)

            async def decided() -> bool:
                page = await stub.ListDecisions(
                    pb.ListDecisionsRequest(parent=PARENT, page_size=1000)
                )
                return len(page.decisions) == SIGNALS + 1

            await eventually(decided, timeout=10)
    finally:
        await client.close()
    # Each signal was sent once (the replay found its decision and delivery's key).
    keys = fake_services.delivery.keys
    assert len(keys) - len(set(keys)) <= 1
    assert sorted(set(keys)) == sorted(expected)
