"""Engagement policies through the gRPC stub: eligibility, applicability and suitability rules
of groups and actions, over profile, context and action, with date helpers; broken rules
are refused when saved, with their position."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import struct_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2

from .._decisioning_support import publish

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"
DOMAIN = "decisioning.rapport.dev"
NOW = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # Monday 2 March 00:30 in Paris
expect_invalid = functools.partial(
    expect_error, code=grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN
)


def inbound(**fields) -> pb.Action:
    return pb.Action(
        channels=[channel_pb2.CHANNEL_INBOUND], purpose="service", value=10.0, **fields
    )


@pytest.fixture
async def clocked(serve, make_settings, fake_services):
    fake_services.profile.traits[ALICE] = {
        "age": 40,
        "policy_renewal_date": "2026-04-01",
        "birth_date": "2000-03-02",
    }
    async with serve(make_settings(), clock=lambda: NOW) as stub:
        yield stub


async def add(stub, action_id: str, **fields) -> None:
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=inbound(**fields))
    )


async def decide(stub, **fields) -> pb.DecideResponse:
    await publish(stub)
    return await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE, **fields))


def outcome(response: pb.DecideResponse) -> dict[str, str]:
    chosen = {a.action.rsplit("/", 1)[1]: "RANKED" for a in response.actions}
    chosen.update({e.action.rsplit("/", 1)[1]: e.reason for e in response.excluded_actions})
    return chosen


async def test_rules_of_the_three_kinds_at_group_and_action_level(clocked):
    stub = clocked
    await stub.CreateActionGroup(
        pb.CreateActionGroupRequest(
            parent=PARENT,
            action_group_id="adults",
            action_group=pb.ActionGroup(issue="sales", eligibility="profile.traits.age >= 18"),
        )
    )
    await stub.CreateActionGroup(
        pb.CreateActionGroupRequest(
            parent=PARENT,
            action_group_id="minors",
            action_group=pb.ActionGroup(eligibility="profile.traits.age < 18"),
        )
    )
    group = f"{PARENT}/actionGroups/"
    await add(stub, "grown-up", group=group + "adults")
    await add(stub, "kids", group=group + "minors")
    await add(stub, "home-only", applicability="context.placement == 'home'")
    await add(stub, "not-on-ios", suitability="context.device != 'ios'")
    await add(stub, "group-and-action", group=group + "adults", suitability="false")

    response = await decide(stub, placement="checkout", device="ios", max_actions=10)
    assert outcome(response) == {
        "grown-up": "RANKED",
        "kids": "NOT_ELIGIBLE",
        "home-only": "NOT_APPLICABLE",
        "not-on-ios": "NOT_SUITABLE",
        "group-and-action": "NOT_SUITABLE",
    }
    kids = next(e for e in response.excluded_actions if e.action.endswith("/kids"))
    assert (
        kids.explanation == "Eligibility rule of group minors `profile.traits.age < 18` is false."
    )
    ranked = response.actions[0]
    assert "eligibility rule of group adults `profile.traits.age >= 18` is true" in (
        ranked.explanation
    )
    response = await decide(stub, placement="home", device="android", max_actions=10)
    assert outcome(response)["home-only"] == "RANKED"
    assert outcome(response)["not-on-ios"] == "RANKED"


async def test_rules_see_dates_local_time_and_the_requested_channel(clocked):
    stub = clocked
    await add(
        stub, "renewal-due", eligibility="days_until(profile.traits.policy_renewal_date) == 30"
    )
    await add(stub, "almost-26", eligibility="years_since(profile.traits.birth_date) == 26")
    await add(
        stub,
        "paris-monday",
        applicability="context.local_time.weekday == 1 && context.local_time.hour == 0",
    )
    await add(stub, "inbound-asked", applicability="context.channel == 'inbound'")
    await add(stub, "by-page", applicability="context.page == 'home'")
    await add(stub, "context-now", applicability="context.now > timestamp('2026-01-01T00:00:00Z')")
    context = struct_pb2.Struct()
    context.update({"page": "home"})
    response = await decide(
        stub,
        time_zone="Europe/Paris",
        channel=channel_pb2.CHANNEL_INBOUND,
        context=context,
        max_actions=10,
    )
    assert set(outcome(response).values()) == {"RANKED"}
    # In UTC it is still Sunday the 1st: 31 days to the renewal, the birthday tomorrow.
    response = await decide(stub, max_actions=10)
    assert outcome(response)["paris-monday"] == "NOT_APPLICABLE"
    assert outcome(response)["renewal-due"] == "NOT_ELIGIBLE"
    assert outcome(response)["almost-26"] == "NOT_ELIGIBLE"
    assert outcome(response)["inbound-asked"] == "RULE_ERROR"  # no channel asked for
    assert outcome(response)["by-page"] == "RULE_ERROR"


async def test_the_profile_time_zone_trait_is_the_default(clocked, fake_services):
    fake_services.profile.traits[ALICE]["timezone"] = "Europe/Paris"
    await add(clocked, "monday", applicability="context.local_time.weekday == 1")
    assert outcome(await decide(clocked)) == {"monday": "RANKED"}


LOCAL_CLOCK = (
    "context.local_time.weekday == {weekday} && context.local_time.hour == {hour}"
    " && context.local_time.time_zone == '{zone}'"
)


async def test_without_a_zone_trait_rules_see_the_workspace_default_zone(
    serve, make_settings, fake_services
):
    fake_services.profile.traits[ALICE] = {"policy_renewal_date": "2026-04-01"}
    settings = make_settings(default_time_zone="Europe/Paris")
    async with serve(settings, clock=lambda: NOW) as stub:
        await add(
            stub, "paris", applicability=LOCAL_CLOCK.format(weekday=1, hour=0, zone="Europe/Paris")
        )
        await add(stub, "utc", applicability=LOCAL_CLOCK.format(weekday=7, hour=23, zone="UTC"))
        # Monday 2 March in Paris: 30 days to the renewal (31 on the UTC date).
        await add(
            stub, "renewal", eligibility="days_until(profile.traits.policy_renewal_date) == 30"
        )
        assert outcome(await decide(stub, max_actions=10)) == {
            "paris": "RANKED",
            "utc": "NOT_APPLICABLE",
            "renewal": "RANKED",
        }
        # An unknown zone in the trait: the default zone too.
        fake_services.profile.traits[ALICE]["timezone"] = "Mars/Olympus"
        assert outcome(await decide(stub, max_actions=10))["paris"] == "RANKED"


async def test_rules_see_the_zone_the_configured_trait_names(serve, make_settings, fake_services):
    settings = make_settings(time_zone_trait="home_zone", default_time_zone="Europe/Paris")
    # Only the configured trait counts: `time_zone` is just another trait here.
    fake_services.profile.traits[ALICE] = {"home_zone": "Asia/Tokyo", "time_zone": "UTC"}
    async with serve(settings, clock=lambda: NOW) as stub:
        await add(
            stub, "tokyo", applicability=LOCAL_CLOCK.format(weekday=1, hour=8, zone="Asia/Tokyo")
        )
        await add(
            stub, "paris", applicability=LOCAL_CLOCK.format(weekday=1, hour=0, zone="Europe/Paris")
        )
        assert outcome(await decide(stub, max_actions=10)) == {
            "tokyo": "RANKED",
            "paris": "NOT_APPLICABLE",
        }
        # The request's own time_zone still wins over the trait.
        response = await decide(stub, time_zone="Europe/Paris", max_actions=10)
        assert outcome(response) == {"tokyo": "NOT_APPLICABLE", "paris": "RANKED"}


async def test_profile_parts_profile_does_not_send_yet_are_empty(clocked):
    await add(
        clocked,
        "segments",
        eligibility="size(profile.segments) == 0 && profile.life_stage == '' "
        "&& size(profile.computed_traits) == 0 && profile.customer.endsWith('/alice')",
    )
    assert outcome(await decide(clocked)) == {"segments": "RANKED"}


async def test_rules_see_the_action(clocked):
    await add(clocked, "tagged", tags=["vip"], eligibility="'vip' in action.tags")
    await add(clocked, "untagged", eligibility="'vip' in action.tags")
    assert outcome(await decide(clocked)) == {"tagged": "RANKED", "untagged": "NOT_ELIGIBLE"}


@pytest.mark.parametrize(
    ("rule", "line", "column", "text"),
    [
        ("profile.traits.age >", 1, 21, "Syntax error"),
        ("profile.traits.age > 18 &&\n  profle.traits.x", 2, 3, "undeclared reference to 'profle'"),
        ("nope(profile.traits.age)", 1, 1, "unknown function 'nope'"),
        ('"abc"', 1, 1, "is a string, never true or false"),
        ("profile.traits.age\n  + 2", 2, 3, "has '+' at its top level"),
    ],
)
async def test_a_broken_rule_is_refused_with_its_position(stub, rule, line, column, text):
    info, bad_request = await expect_invalid(
        stub.CreateAction(
            pb.CreateActionRequest(parent=PARENT, action_id="a", action=inbound(suitability=rule))
        ),
        field="action.suitability",
    )
    description = bad_request.field_violations[0].description
    assert description.startswith(f"is not a valid CEL expression: line {line}, column {column}")
    assert text in description
    assert (info.metadata["line"], info.metadata["column"]) == (str(line), str(column))
    listed = await stub.ListActions(pb.ListActionsRequest(parent=PARENT))
    assert list(listed.actions) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"placement": "x" * 257}, "placement"),
        ({"device": "a\x00b"}, "device"),
    ],
)
async def test_bad_context_fields(stub, fake_services, fields, field):
    fake_services.profile.traits[ALICE] = {}
    await expect_invalid(
        stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE, **fields)), field=field
    )
