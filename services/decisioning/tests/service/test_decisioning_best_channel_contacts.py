"""Contact limits hold for best-channel sends, whichever channel delivery chooses.

A best-channel trigger offers delivery only the channels the limits still allow and
holds a contact on each until delivery says which one it used (its answer, or the first
status event naming the channel); then only that one counts. So two triggers firing at
once for a customer who prefers SMS never send two SMS under a one-SMS-a-week limit.
"""

from __future__ import annotations

import uuid

import pytest
from rapport.grpctesting import eventually
from rapport.type.v1 import channel_pb2

ALICE = "workspaces/default/customers/alice"
EMAIL, SMS = channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS

CATALOGUE = """
settings:
  contact_limits:
    - {channels: [email], purposes: [marketing], max_contacts: 1, period: 7d}
    - {channels: [sms], purposes: [marketing], max_contacts: 1, period: 7d}
actions:
  - id: quote
    channels: [email, sms]
    purpose: marketing
    value: 50.0
    content: {subject: "Your quote", text_body: "Your quote is ready"}
  - id: tips
    channels: [email, sms]
    purpose: marketing
    value: 40.0
    content: {subject: "Tips", text_body: "Three tips"}
triggers:
  - {id: quote-ready, event_name: Quote Requested, action: quote, channel: email,
     best_channel: true}
  - {id: tips-too, event_name: Quote Requested, action: tips, channel: email,
     best_channel: true}
"""


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def contacts_in(request):
    return request.param


@pytest.fixture
def catalogue() -> str:
    return CATALOGUE


@pytest.fixture
def best_channel_settings(contacts_in, catalogue, make_settings, tmp_path, request):
    path = tmp_path / "best.yaml"
    path.write_text(catalogue)
    extra = {}
    if contacts_in == "postgres":
        extra = {
            "database_url": request.getfixturevalue("postgres_url"),
            "database_schema": request.getfixturevalue("pg_schema"),
        }
    if contacts_in == "redis":
        extra = {
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_key_prefix": f"t{uuid.uuid4().hex[:8]}:",
        }
    return make_settings(catalogue_file=path, triggers_enabled=True, **extra)


@pytest.fixture
def alice_prefers_sms(fake_services):
    fake_services.profile.traits[ALICE] = {}
    fake_services.consent.grant(ALICE, "marketing", EMAIL, SMS)
    fake_services.delivery.preferred[ALICE] = SMS
    return fake_services


def _used(request) -> int:
    """The channel the fake delivery sent a best-channel request on."""
    candidates = list(request.candidate_channels)
    return SMS if SMS in candidates else candidates[0]


async def test_a_channel_known_at_once_moves_the_contact_there(
    serve, best_channel_settings, alice_prefers_sms
):
    services = alice_prefers_sms
    async with serve(best_channel_settings):
        await services.emit_event(ALICE, "Quote Requested", message_id="q1")
        await eventually(lambda: len(services.delivery.accepted) == 2)
        first, second = services.delivery.accepted
        # The first offers both channels and goes by SMS; the week's SMS is then used,
        # so the second may only go by email (before, it went by SMS too).
        assert list(first.candidate_channels) == [EMAIL, SMS]
        assert list(second.candidate_channels) == [EMAIL]
        assert sorted(_used(r) for r in (first, second)) == sorted([EMAIL, SMS])


async def test_channels_held_until_a_status_event_names_the_one_used(
    serve, best_channel_settings, alice_prefers_sms, stored_cursor
):
    services = alice_prefers_sms
    services.delivery.choose_later = True
    async with serve(best_channel_settings):
        await services.emit_event(ALICE, "Quote Requested", message_id="q1")
        await eventually(lambda: len(services.delivery.accepted) == 1)
        # The second trigger found both channels held by the first send.
        marker = await services.emit_event(ALICE, "Page Viewed")

        async def passed_marker() -> bool:
            return await stored_cursor(best_channel_settings) == marker.cursor

        await eventually(passed_marker)
        assert len(services.delivery.accepted) == 1
        assert list(services.delivery.accepted[0].candidate_channels) == [EMAIL, SMS]

        # Delivery reports the SMS went out: the email hold ends, the SMS stays counted.
        message = "workspaces/default/messages/m1"
        await services.emit_event(
            ALICE, "SMS Sent", properties={"message": message, "channel": "SMS"}
        )
        await services.emit_event(ALICE, "Quote Requested", message_id="q2")
        await eventually(lambda: len(services.delivery.accepted) == 2)
        assert list(services.delivery.accepted[1].candidate_channels) == [EMAIL]


ONE_LIMIT_FOR_BOTH = CATALOGUE.replace(
    """    - {channels: [email], purposes: [marketing], max_contacts: 1, period: 7d}
    - {channels: [sms], purposes: [marketing], max_contacts: 1, period: 7d}""",
    "    - {channels: [email, sms], purposes: [marketing], max_contacts: 1, period: 7d}",
)


@pytest.mark.parametrize("catalogue", [ONE_LIMIT_FOR_BOTH])
async def test_one_send_holding_two_channels_counts_once(
    serve, best_channel_settings, alice_prefers_sms, stored_cursor
):
    """Under one limit for both channels, the send may still go on either (its holds
    count as one contact) and leaves no room for a second."""
    services = alice_prefers_sms
    services.delivery.choose_later = True
    async with serve(best_channel_settings):
        await services.emit_event(ALICE, "Quote Requested", message_id="q1")
        marker = await services.emit_event(ALICE, "Page Viewed")

        async def passed_marker() -> bool:
            return await stored_cursor(best_channel_settings) == marker.cursor

        await eventually(passed_marker)
        assert [list(r.candidate_channels) for r in services.delivery.accepted] == [[EMAIL, SMS]]
