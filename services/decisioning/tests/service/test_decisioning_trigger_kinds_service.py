"""Trigger kinds through the real server: segment entry and exit, life stage changes,
time windows from date traits (a persisted schedule that survives restarts), throttles."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import duration_pb2, json_format, struct_pb2
from rapport.decisioning.adapters import tables
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually, expect_error
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.sqlstore import as_utc, create_engine
from rapport.type.v1 import channel_pb2

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"
BOB = "workspaces/default/customers/bob"
VIP = "workspaces/default/segments/vip"
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

CATALOGUE = """
settings:
  contact_limits: []
actions:
  - id: reminder
    channels: [email]
    purpose: marketing
    value: 100.0
    content: {subject: "Hello", text_body: "Hello"}
triggers:
  - id: vip-welcome
    kind: segment_entered
    segment: workspaces/default/segments/vip
    action: reminder
    channel: email
  - id: vip-goodbye
    kind: segment_exited
    segment: workspaces/default/segments/vip
    action: reminder
    channel: email
  - id: family
    kind: life_stage_changed
    life_stage: family
    action: reminder
    channel: email
  - id: renewal-30
    kind: time_window
    date_trait: policy_renewal_date
    offset_days: -30
    condition: 'event.properties.trait == "policy_renewal_date"'
    action: reminder
    channel: email
  - id: dependent-26
    kind: time_window
    date_trait: dependent_birth_date
    years_after: 26
    offset_days: -60
    action: reminder
    channel: email
  - id: weekly-visit
    event_name: Site Visited
    throttle: 7d
    action: reminder
    channel: email
"""

_cursors = itertools.count(1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def settings(tmp_path, make_settings, fake_services):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    fake_services.profile.segments.add(VIP)  # the catalogue's segment triggers name it
    for customer in (ALICE, BOB):
        fake_services.profile.traits[customer] = {}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    return make_settings(
        catalogue_file=path, triggers_enabled=True, trigger_schedule_poll_seconds=0.05
    )


async def signal(fake_services, customer: str, **detail) -> profile_pb.Signal:
    kind = detail.pop("kind")
    message = profile_pb.Signal(
        cursor=f"k{next(_cursors):06d}", kind=kind, customer=customer, **detail
    )
    await fake_services.profile.add_signal(message)
    return message


def trait(key: str, value) -> profile_pb.TraitChanged:
    changed = profile_pb.TraitChanged(key=key)
    if value is None:
        changed.removed = True
    else:
        changed.new_value.CopyFrom(json_format.ParseDict(value, struct_pb2.Value()))
    return changed


def keys(fake_services) -> list[str]:
    return fake_services.delivery.keys


async def test_segment_and_life_stage_signals_fire_their_triggers(
    serve, settings, fake_services, clock
):
    async with serve(settings, clock=clock) as stub:
        entered = await signal(
            fake_services,
            ALICE,
            kind=profile_pb.SIGNAL_KIND_SEGMENT_ENTERED,
            segment_membership_changed=profile_pb.SegmentMembershipChanged(segment=VIP),
        )
        await signal(
            fake_services,
            BOB,
            kind=profile_pb.SIGNAL_KIND_SEGMENT_ENTERED,
            segment_membership_changed=profile_pb.SegmentMembershipChanged(
                segment="workspaces/default/segments/other"
            ),
        )
        exited = await signal(
            fake_services,
            ALICE,
            kind=profile_pb.SIGNAL_KIND_SEGMENT_EXITED,
            segment_membership_changed=profile_pb.SegmentMembershipChanged(segment=VIP),
        )
        stages = {}
        for stage in ("single", "family"):
            stages[stage] = await signal(
                fake_services,
                BOB,
                kind=profile_pb.SIGNAL_KIND_LIFE_STAGE_CHANGED,
                life_stage_changed=profile_pb.LifeStageChanged(old_stage="", new_stage=stage),
            )
        # A replayed signal (same cursor) sends nothing new.
        await fake_services.profile.add_signal(entered)
        await eventually(lambda: len(fake_services.delivery.accepted) >= 4)
        decisions = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT))
    assert set(keys(fake_services)) == {
        f"trigger:vip-welcome:signal:{entered.cursor}",
        f"trigger:vip-goodbye:signal:{exited.cursor}",
        f"trigger:family:signal:{stages['family'].cursor}",
    }
    sources = sorted(d.source.rsplit("/", 1)[1] for d in decisions.decisions)
    assert sources == ["family", "vip-goodbye", "vip-welcome"]


async def test_time_window_is_scheduled_fired_once_and_survives_a_restart(
    serve, settings, fake_services, clock
):
    renewal = (START + timedelta(days=40)).date().isoformat()
    async with serve(settings, clock=clock):
        await signal(
            fake_services,
            ALICE,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("policy_renewal_date", renewal),
        )
        # Bob's date is no date; his dependent turns 26 in 50 days: 60 days before is past,
        # but the birthday is not, so it fires at once.
        await signal(
            fake_services,
            BOB,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("policy_renewal_date", "soon"),
        )
        birth = (START + timedelta(days=50)).date().replace(year=START.year - 26)
        await signal(
            fake_services,
            BOB,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("dependent_birth_date", birth.isoformat()),
        )
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
        assert keys(fake_services)[0].startswith("trigger:dependent-26:")
        await eventually(_all_fired_or_pending(settings))
        rows = await _schedule_rows(settings)
        assert {(r.trigger_id, r.customer, r.anchor_date) for r in rows} == {
            ("renewal-30", ALICE, renewal),
            ("dependent-26", BOB, birth.replace(year=START.year).isoformat()),
        }
    # Ten days later (30 days before the renewal) in a new process: it fires.
    clock.now = START + timedelta(days=10, hours=1)
    async with serve(settings, clock=clock) as stub:
        # (A firing sent but not yet marked when the first process stopped is sent again
        # with the same key, which delivery deduplicates: keys are what count.)
        def renewal_sent() -> list:
            return [
                r
                for r in fake_services.delivery.accepted
                if r.idempotency_key.startswith("trigger:renewal-30:")
            ]

        (sent,) = await eventually(renewal_sent)
        assert sent.customer == ALICE
        decisions = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT, customer=ALICE))
        assert [d.source for d in decisions.decisions] == ["workspaces/default/triggers/renewal-30"]
        # Moving the date re-schedules it; removing the trait unschedules it.
        later = (START + timedelta(days=400)).date().isoformat()
        await signal(
            fake_services,
            ALICE,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("policy_renewal_date", later),
        )

        async def moved() -> bool:
            rows = {r.trigger_id: r for r in await _schedule_rows(settings) if r.customer == ALICE}
            return rows["renewal-30"].anchor_date == later and rows["renewal-30"].fired_time is None

        await eventually(moved)
        await signal(
            fake_services,
            ALICE,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("policy_renewal_date", None),
        )

        async def removed() -> bool:
            return all(r.customer != ALICE for r in await _schedule_rows(settings))

        await eventually(removed)
        erased = await stub.EraseCustomerDecisions(
            pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=BOB)
        )
        assert erased.schedule_count == 1
    assert len(set(keys(fake_services))) == 2


async def test_a_window_fires_at_the_local_time_on_the_customer_clock(
    serve, make_settings, settings, fake_services, clock
):
    local = make_settings(
        catalogue_file=settings.catalogue_file,
        triggers_enabled=True,
        trigger_schedule_poll_seconds=0.05,
        time_window_fire_time="08:00",
        default_time_zone="America/New_York",
    )
    fake_services.profile.traits[ALICE] = {"timezone": "Asia/Tokyo"}
    fake_services.profile.traits[BOB] = {"timezone": "Mars/Olympus"}  # unknown: default
    renewal = (START + timedelta(days=40)).date().isoformat()  # fires on 11 March 2027
    alice_at = datetime(2027, 3, 10, 23, tzinfo=UTC)  # 08:00 in Tokyo (+09:00)
    bob_at = datetime(2027, 3, 11, 13, tzinfo=UTC)  # 08:00 in New York (EST, -05:00)
    async with serve(local, clock=clock):
        for customer in (ALICE, BOB):
            await signal(
                fake_services,
                customer,
                kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
                trait_changed=trait("policy_renewal_date", renewal),
            )

        async def scheduled() -> dict:
            rows = await _schedule_rows(local)
            return {r.customer: (r.fire_time, r.time_zone) for r in rows} if len(rows) == 2 else {}

        found = await eventually(scheduled)
        assert found[ALICE][1] == "Asia/Tokyo" and found[BOB][1] == "America/New_York"
        assert {c: as_utc(t) for c, (t, _) in found.items()} == {ALICE: alice_at, BOB: bob_at}
        clock.now = alice_at
        (sent,) = await eventually(lambda: list(fake_services.delivery.accepted))
        assert sent.customer == ALICE

        async def alice_marked() -> dict:
            rows = {r.customer: r for r in await _schedule_rows(local)}
            return rows if rows[ALICE].fired_time is not None else {}

        # The pass that fired Alice's (before 00:00 UTC on 11 March) left Bob's alone.
        assert (await eventually(alice_marked))[BOB].fired_time is None
        # Bob moves to Paris (CET, +01:00): his pending firing moves to 07:00 UTC.
        await signal(
            fake_services,
            BOB,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("timezone", "Europe/Paris"),
        )
        paris_at = datetime(2027, 3, 11, 7, tzinfo=UTC)

        async def moved() -> bool:
            rows = {r.customer: r for r in await _schedule_rows(local)}
            return as_utc(rows[BOB].fire_time) == paris_at and rows[BOB].time_zone == (
                "Europe/Paris"
            )

        await eventually(moved)
        clock.now = paris_at
        await eventually(lambda: len(fake_services.delivery.accepted) == 2)
    assert [r.customer for r in fake_services.delivery.accepted] == [ALICE, BOB]


async def test_a_window_whose_date_passed_is_dropped(serve, settings, fake_services, clock):
    async with serve(settings, clock=clock):
        past = (START - timedelta(days=1)).date().isoformat()
        await signal(
            fake_services,
            ALICE,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("policy_renewal_date", past),
        )

        async def done() -> bool:
            rows = await _schedule_rows(settings)
            return len(rows) == 1 and rows[0].fired_time is not None

        await eventually(done)
    assert fake_services.delivery.accepted == []


async def test_throttle_sends_at_most_once_per_period(serve, settings, fake_services, clock):
    async with serve(settings, clock=clock):
        await fake_services.emit_event(ALICE, "Site Visited", message_id="v1")
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
        clock.now = START + timedelta(days=3)
        await fake_services.emit_event(ALICE, "Site Visited", message_id="v2")
        await fake_services.emit_event(BOB, "Site Visited", message_id="v3")
        await eventually(lambda: len(fake_services.delivery.accepted) == 2)
        clock.now = START + timedelta(days=8)
        await fake_services.emit_event(ALICE, "Site Visited", message_id="v4")
        await eventually(lambda: len(fake_services.delivery.accepted) == 3)
    assert keys(fake_services) == [
        "trigger:weekly-visit:v1",
        "trigger:weekly-visit:v3",
        "trigger:weekly-visit:v4",
    ]


async def test_trigger_kinds_through_the_api_and_refusals(stub):
    await stub.CreateAction(
        pb.CreateActionRequest(
            parent=PARENT,
            action_id="reminder",
            action=pb.Action(
                channels=[channel_pb2.CHANNEL_EMAIL],
                purpose="marketing",
                value=1.0,
                content={"subject": "s", "text_body": "b"},
            ),
        )
    )
    window = pb.Trigger(
        kind=pb.TRIGGER_KIND_TIME_WINDOW,
        date_trait="policy_renewal_date",
        offset_days=-30,
        throttle=duration_pb2.Duration(seconds=7 * 86400),
        action="workspaces/default/actions/reminder",
        channel=channel_pb2.CHANNEL_EMAIL,
    )
    created = await stub.CreateTrigger(
        pb.CreateTriggerRequest(parent=PARENT, trigger_id="renewal", trigger=window)
    )
    assert created.kind == pb.TRIGGER_KIND_TIME_WINDOW
    assert (created.date_trait, created.offset_days) == ("policy_renewal_date", -30)
    assert created.throttle.seconds == 7 * 86400
    assert await stub.GetTrigger(pb.GetTriggerRequest(name=created.name)) == created
    exported = await stub.ExportDecisionConfig(pb.ExportDecisionConfigRequest(parent=PARENT))
    assert "kind: time_window" in exported.content and "throttle: 7d" in exported.content
    refusals = [
        ({"kind": pb.TRIGGER_KIND_SEGMENT_ENTERED}, "trigger.segment"),
        (
            {"kind": pb.TRIGGER_KIND_SEGMENT_ENTERED, "segment": "workspaces/x/segments/s"},
            "trigger.segment",
        ),
        ({"kind": pb.TRIGGER_KIND_TIME_WINDOW}, "trigger.date_trait"),
        (
            {"kind": pb.TRIGGER_KIND_EVENT, "date_trait": "d", "event_name": "E"},
            "trigger.date_trait",
        ),
        (
            {"kind": pb.TRIGGER_KIND_SEGMENT_EXITED, "event_name": "E", "segment": VIP},
            "trigger.event_name",
        ),
        (
            {"kind": pb.TRIGGER_KIND_TIME_WINDOW, "date_trait": "d", "offset_days": 4000},
            "trigger.offset_days",
        ),
        (
            {"kind": pb.TRIGGER_KIND_TIME_WINDOW, "date_trait": "d", "years_after": -1},
            "trigger.years_after",
        ),
        ({"kind": 99, "event_name": "E"}, "trigger.kind"),
        ({"event_name": "E", "throttle": duration_pb2.Duration(seconds=1)}, "trigger.throttle"),
        (
            {"kind": pb.TRIGGER_KIND_LIFE_STAGE_CHANGED, "life_stage": "x" * 65},
            "trigger.life_stage",
        ),
        # A condition that can never be true or false (a string), told without types.
        ({"event_name": "E", "condition": 'event.properties.x + "a"'}, "trigger.condition"),
    ]
    for fields, field in refusals:
        trigger = pb.Trigger(
            action="workspaces/default/actions/reminder", channel=channel_pb2.CHANNEL_EMAIL
        )
        for key, value in fields.items():
            if key == "throttle":
                trigger.throttle.CopyFrom(value)
            else:
                setattr(trigger, key, value)
        await expect_error(
            stub.CreateTrigger(
                pb.CreateTriggerRequest(parent=PARENT, trigger_id="bad", trigger=trigger)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )


async def _schedule_rows(settings) -> list:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(tables.trigger_schedules))).all())
    finally:
        await engine.dispose()


BEST_CHANNEL_CATALOGUE = """
settings:
  contact_limits: []
actions:
  - id: quote
    channels: [email, sms]
    purpose: marketing
    value: 50.0
    content: {subject: "Your quote", text_body: "Your quote is ready"}
triggers:
  - id: quote-ready
    event_name: Quote Requested
    action: quote
    channel: email
    best_channel: true
"""


async def test_a_trigger_may_let_delivery_choose_the_best_channel(
    serve, make_settings, fake_services, tmp_path
):
    path = tmp_path / "best.yaml"
    path.write_text(BEST_CHANNEL_CATALOGUE)
    fake_services.profile.traits[ALICE] = {}
    fake_services.consent.grant(
        ALICE, "marketing", channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS
    )
    fake_services.delivery.preferred[ALICE] = channel_pb2.CHANNEL_SMS
    async with serve(make_settings(catalogue_file=path, triggers_enabled=True)) as stub:
        trigger = await stub.GetTrigger(
            pb.GetTriggerRequest(name="workspaces/default/triggers/quote-ready")
        )
        assert trigger.best_channel
        await fake_services.emit_event(ALICE, "Quote Requested", message_id="q1")
        await eventually(lambda: len(fake_services.delivery.accepted) == 1)
        request = fake_services.delivery.accepted[0]
        assert request.best_channel
        assert request.channel == channel_pb2.CHANNEL_UNSPECIFIED
        assert list(request.candidate_channels) == [
            channel_pb2.CHANNEL_EMAIL,
            channel_pb2.CHANNEL_SMS,
        ]
        assert request.content.text_body == "Your quote is ready"
        # Delivery's status event on the channel it chose is an outcome on that channel.
        message = "workspaces/default/messages/m1"
        await fake_services.emit_event(ALICE, "SMS Delivered", properties={"message": message})

        async def delivered() -> list:
            page = await stub.ListOutcomes(pb.ListOutcomesRequest(parent=PARENT))
            return list(page.outcomes)

        outcomes = await eventually(delivered)
        assert [(o.type, o.channel) for o in outcomes] == [
            (pb.OUTCOME_TYPE_DELIVERED, channel_pb2.CHANNEL_SMS)
        ]


def _all_fired_or_pending(settings):
    """Bob's due firing marked done (so a restart does not find it due again)."""

    async def check() -> bool:
        rows = await _schedule_rows(settings)
        return any(r.trigger_id == "dependent-26" and r.fired_time is not None for r in rows)

    return check
