"""NATS JetStream as the suite's event bus: durable logs relayed to streams, and durable
consumers shared by replicas.

A service's durable log (profile's signals, identity's changes, delivery's status
events) stays the source of truth, written in the same transaction as the change it
records. ``LogRelay`` publishes it, in log order, to the stream of ``LogSubjects``
(``<prefix>.<service>.<log>.<workspace>.<kind>.<partition>``), at least once with
duplicates dropped by JetStream (``Nats-Msg-Id``) and never out of order (each
publish chained on the stream's last sequence). ``DurableConsumer`` lets the replicas
of a consuming service share durable consumers: each message goes to one of them, is
acknowledged after its handler succeeded, retried with backoff after a transient
failure, terminated and reported when it fails for good; ``ordered=True`` keeps
each partition's (each customer's) order. See ConsumerSpec for what JetStream orders.

The gRPC ``Watch*`` streams stay the contract for a single consumer, and without
``nats_url`` (the embedded default, ``make run``) nothing here runs.

Relaying a log, in a service's bootstrap when ``settings.nats_url`` is set::

    subjects = LogSubjects.from_settings(settings, "signals")
    bus = NatsBus(settings.nats_url, name=settings.service_name)
    relay = LogRelay(
        bus,
        subjects,
        stream=StreamSpec.from_settings(subjects, settings),
        read_after=signals_after,  # (cursor, limit): every workspace, cursor order
        cursor_of=lambda record: record.seq,
        encode=lambda record: Event(record.workspace, record.kind, record.customer_id, data),
        position=SqlRelayPosition(engine, tables.relay_positions, "signals"),
        notifier=notifier,  # the one the log's writers notify after commit
        lease=relay_lease(engine, subjects.root),
    )
    # ServiceParts(background=[..., relay.run], on_close=[..., bus.close])

with ``relay_positions = relay_positions_table(metadata)`` in the service's tables.py
and a migration creating it. A consuming service runs ``DurableConsumer(bus,
LogSubjects.from_settings(settings, "signals", service="profile"), ConsumerSpec(
"decisioning-triggers"), handler).run`` the same way.
"""

from ._connection import Backoff, NatsBus
from ._consumer import (
    ConsumerSpec,
    ConsumerStats,
    Delivery,
    DurableConsumer,
    PermanentFailure,
    Terminated,
)
from ._lease import Lease, PostgresLease, SoleLease, relay_lease
from ._positions import RelayPosition, SqlRelayPosition, relay_positions_table
from ._relay import CURSOR_HEADER, MSG_ID_HEADER, Event, LogRelay, MessageTooLarge, RelayStats
from ._streams import StreamSpec, ensure_stream
from ._subjects import BadSubjectToken, LogSubjects

__all__ = [
    "CURSOR_HEADER",
    "MSG_ID_HEADER",
    "Backoff",
    "BadSubjectToken",
    "ConsumerSpec",
    "ConsumerStats",
    "Delivery",
    "DurableConsumer",
    "Event",
    "Lease",
    "LogRelay",
    "LogSubjects",
    "MessageTooLarge",
    "NatsBus",
    "PermanentFailure",
    "PostgresLease",
    "RelayPosition",
    "RelayStats",
    "SoleLease",
    "SqlRelayPosition",
    "StreamSpec",
    "Terminated",
    "ensure_stream",
    "relay_lease",
    "relay_positions_table",
]
