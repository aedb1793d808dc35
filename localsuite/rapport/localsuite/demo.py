"""`make demo`: the seed scenario against a running suite.

A customer is identified first by email, then by phone (with the time zone they live
in); grants email marketing consent; their policy's renewal date arrives (identified by
the phone only), 30 days from their today; the catalogue's time-window trigger (30 days
before `policy_renewal_date`, at 09:00 on the customer's clock) fires, delivery
re-checks consent and the reminder lands in the SMTP sink addressed to them. The
customer lives where it is 09:xx when the demo runs (customer_clock), so the reminder
is due at once and the mail's date is true whenever the demo runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
from google.protobuf import struct_pb2, timestamp_pb2
from rapport.consent.v1 import consent_service_pb2 as consent_pb
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc
from rapport.delivery.v1 import delivery_service_pb2 as delivery_pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as delivery_grpc
from rapport.localsuite.suite import DEFAULT_PORTS, TOKEN_FILE
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.profile.v1 import profile_service_pb2_grpc as profile_grpc
from rapport.type.v1 import channel_pb2, identifier_pb2

WORKSPACE = "workspaces/default"
EMAIL = "Ada.Lovelace@Example.com "
PHONE = "+44 20 7946 0958"
# Area codes for demo phone numbers (NPA 555 XXXX): with 10,000 numbers each, a run's
# number is almost never one an earlier run used.
_AREA_CODES = (201, 212, 213, 305, 312, 415, 617, 646, 702, 713, 786, 818, 917)
POLICY_NUMBER = "HOME-0042"
# The catalogue's time window opens 30 days before the renewal date, and decisioning
# sends at 09:00 on the customer's clock (never hours after it: a firing found later
# waits for the next 09:00). So the demo's customer lives where it is 09:xx now
# (customer_clock), and their renewal is 30 days from their today: the reminder is due
# this very hour, and goes out at once.
RENEWS_IN_DAYS = 30
SEND_HOUR = 9


def fresh_identity(tag: str) -> tuple[str, str]:
    """An e-mail address and a phone number for a new demo customer, from a hex `tag`.

    `make demo` plays a new customer each time: the first run's customer already got
    this week's marketing email, so the contact limit (1 a week) would hold a second
    reminder to them back and the demo would wait in vain."""
    number = int(tag, 16)
    area = _AREA_CODES[number % len(_AREA_CODES)]
    line = number // len(_AREA_CODES) % 10_000
    return f"Ada.Lovelace.{tag}@Example.com ", f"+1 {area} 555 {line:04d}"


def renewal_traits(today: date) -> dict[str, str]:
    """The policy traits the demo sets: a renewal RENEWS_IN_DAYS after `today`."""
    renewal = today + timedelta(days=RENEWS_IN_DAYS)
    return {"policy_number": POLICY_NUMBER, "policy_renewal_date": renewal.isoformat()}


def customer_clock(now: datetime) -> tuple[str, date]:
    """A time zone where it is SEND_HOUR (09:xx) at `now`, and the date there: an
    `Etc/GMT` zone (whole hours, UTC-12 to UTC+14, no daylight saving; note the
    inverted sign: Etc/GMT-10 is UTC+10)."""
    offset = (SEND_HOUR - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    name = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
    return name, now.astimezone(ZoneInfo(name)).date()


@dataclass
class DemoResult:
    customer: str
    message: delivery_pb.Message
    renewal_date: str


def _struct(values: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _channel(address: str, token: str | None) -> grpc.aio.Channel:
    interceptors = [_BearerToken(token)] if token else []
    return grpc.aio.insecure_channel(address, interceptors=interceptors)


class _BearerToken(grpc.aio.UnaryUnaryClientInterceptor):
    """The demo only makes unary calls; each carries the suite's token."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    async def intercept_unary_unary(self, continuation, details, request):
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self._header)
        return await continuation(details._replace(metadata=metadata), request)


async def play(
    addresses: dict[str, str],
    *,
    token: str | None = None,
    wait_seconds: float = 30.0,
    say=print,
    email: str = EMAIL,
    phone: str = PHONE,
    today: date | None = None,
) -> DemoResult:
    run = uuid.uuid4().hex[:8]
    zone, local_today = customer_clock(datetime.now(UTC))
    policy = renewal_traits(today or local_today)
    async with (
        _channel(addresses["profile"], token) as profile_channel,
        _channel(addresses["consent"], token) as consent_channel,
        _channel(addresses["delivery"], token) as delivery_channel,
    ):
        profile = profile_grpc.ProfileServiceStub(profile_channel)
        consent = consent_grpc.ConsentServiceStub(consent_channel)
        delivery = delivery_grpc.DeliveryServiceStub(delivery_channel)

        first = profile_pb.Event(
            type=profile_pb.EVENT_TYPE_IDENTIFY,
            message_id=f"demo-{run}-identify-email",
            anonymous_id=f"anon-{run}",
            traits=_struct({"email": email, "first_name": "Ada", "last_name": "Lovelace"}),
            original_time=_now(),
            sent_time=_now(),
        )
        reply = await profile.IngestEvents(
            profile_pb.IngestEventsRequest(parent=WORKSPACE, events=[first]), timeout=10
        )
        customer = reply.results[0].customer
        say(f"1. identified by email           -> {customer}")

        second = profile_pb.Event(
            type=profile_pb.EVENT_TYPE_IDENTIFY,
            message_id=f"demo-{run}-identify-phone",
            traits=_struct(
                {
                    "email": email.strip().lower(),
                    "phone": phone,
                    "plan": "motor",
                    "timezone": zone,
                }
            ),
            original_time=_now(),
            sent_time=_now(),
        )
        reply = await profile.IngestEvents(
            profile_pb.IngestEventsRequest(parent=WORKSPACE, events=[second]), timeout=10
        )
        if reply.results[0].customer != customer:
            raise RuntimeError("the phone identify did not resolve to the same customer")
        say(f"2. identified by email and phone -> {reply.results[0].customer} (same customer)")
        say(f"   lives in {zone}, where it is now {datetime.now(ZoneInfo(zone)):%H:%M}")

        record = await consent.RecordConsent(
            consent_pb.RecordConsentRequest(
                parent=customer,
                record=consent_pb.ConsentRecord(
                    purpose="marketing",
                    channel=channel_pb2.CHANNEL_EMAIL,
                    state=consent_pb.CONSENT_STATE_GRANTED,
                    source="demo_web_form",
                    notice_version="2026-01",
                    proof=f"form-submission-{run}",
                ),
            ),
            timeout=10,
        )
        say(f"3. email marketing consent       -> {record.name}")

        renewal = profile_pb.Event(
            type=profile_pb.EVENT_TYPE_IDENTIFY,
            message_id=f"demo-{run}-renewal-date",
            identifiers=[identifier_pb2.Identifier(type="phone", value=phone)],
            traits=_struct(policy),
            original_time=_now(),
            sent_time=_now(),
        )
        await profile.IngestEvents(
            profile_pb.IngestEventsRequest(parent=WORKSPACE, events=[renewal]), timeout=10
        )
        say(
            f"4. policy {policy['policy_number']} renews on {policy['policy_renewal_date']} "
            "(identified by phone only)"
        )

        deadline = time.monotonic() + wait_seconds
        while True:
            listing = await delivery.ListMessages(
                delivery_pb.ListMessagesRequest(parent=WORKSPACE, customer=customer), timeout=10
            )
            # The window's firing is keyed by trigger, customer and renewal date.
            mine = [
                m for m in listing.messages if policy["policy_renewal_date"] in m.idempotency_key
            ]
            done = [m for m in mine if m.state not in _ON_ITS_WAY]
            if done:
                message = done[0]
                state = delivery_pb.MessageState.Name(message.state)
                say(f"5. reminder (30-day window)      -> {message.name} {state}")
                return DemoResult(customer, message, policy["policy_renewal_date"])
            if time.monotonic() > deadline:
                raise TimeoutError("no renewal reminder was sent in time")
            await asyncio.sleep(0.3)


# A message in these states has not been handed to a provider yet (or is being now).
_ON_ITS_WAY = (
    delivery_pb.MESSAGE_STATE_QUEUED,
    delivery_pb.MESSAGE_STATE_SCHEDULED,
    delivery_pb.MESSAGE_STATE_SENDING,
)


def _token(data_dir: Path) -> str | None:
    """The token `make run` wrote (none when it runs with RAPPORT_LOCAL_AUTH=off)."""
    token_file = data_dir / TOKEN_FILE
    return token_file.read_text().strip() if token_file.exists() else None


def main() -> int:
    addresses = {
        s: f"127.0.0.1:{os.environ.get(f'RAPPORT_LOCAL_{s.upper()}_PORT', p)}"
        for s, p in DEFAULT_PORTS.items()
    }
    data_dir = Path(os.environ.get("RAPPORT_LOCAL_DATA_DIR", ".data"))
    email, phone = fresh_identity(uuid.uuid4().hex[:8])
    try:
        result = asyncio.run(play(addresses, token=_token(data_dir), email=email, phone=phone))
    except grpc.aio.AioRpcError as exc:
        print(f"demo failed: {exc.code().name}: {exc.details()} (is `make run` running?)")
        return 1
    except TimeoutError as exc:
        print(f"demo failed: {exc} (see {data_dir}/logs/decisioning.log and delivery.log)")
        return 1
    if result.message.state != delivery_pb.MESSAGE_STATE_SENT:
        print(f"the reminder was not sent: {result.message.failure_reason}")
        return 1
    print(f"\nOpen the mail: the newest file in {data_dir}/mail/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
