"""Action and trigger CRUD through the real gRPC server."""

from __future__ import annotations

import functools

import grpc
import pytest
from google.protobuf import timestamp_pb2
from rapport.config import WORKSPACES_FILE_ENV
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

PARENT = "workspaces/default"
DOMAIN = "decisioning.rapport.dev"
expect_invalid = functools.partial(
    expect_error, code=grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN
)


def email_action(**changes) -> pb.Action:
    action = pb.Action(
        display_name="Renewal reminder",
        description="Tells the customer the policy renews soon",
        channels=[channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS],
        purpose="marketing",
        value=120.0,
        eligibility="has(profile.traits.email)",
        content=message_content_pb2.MessageContent(
            subject="Your policy renews soon, {{ traits.first_name }}",
            text_body="Renew before {{ data.event.renewal_date }}.",
        ),
    )
    for key, value in changes.items():
        if key == "channels":
            del action.channels[:]
            action.channels.extend(value)
        elif key == "content":
            action.content.CopyFrom(value)
        else:
            setattr(action, key, value)
    return action


async def test_create_get_list_delete(stub):
    created = await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id="renewal", action=email_action())
    )
    assert created.name == "workspaces/default/actions/renewal"
    assert created.lever == 1.0 and created.base_propensity == 0.5
    assert list(created.channels) == [channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS]
    assert created.create_time.seconds > 0
    assert not created.HasField("start_time")

    fetched = await stub.GetAction(pb.GetActionRequest(name=created.name))
    assert fetched == created

    listed = await stub.ListActions(pb.ListActionsRequest(parent=PARENT))
    assert [a.name for a in listed.actions] == [created.name]
    assert listed.next_page_token == ""

    await stub.DeleteAction(pb.DeleteActionRequest(name=created.name))
    await expect_error(
        stub.GetAction(pb.GetActionRequest(name=created.name)),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    info, _ = await expect_error(
        stub.DeleteAction(pb.DeleteActionRequest(name=created.name)),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    assert info.metadata["resource"] == created.name


async def test_validity_window_round_trips(stub):
    start = timestamp_pb2.Timestamp(seconds=1_700_000_000)
    end = timestamp_pb2.Timestamp(seconds=1_800_000_000, nanos=500_000_000)
    action = email_action()
    action.start_time.CopyFrom(start)
    action.end_time.CopyFrom(end)
    created = await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id="windowed", action=action)
    )
    fetched = await stub.GetAction(pb.GetActionRequest(name=created.name))
    assert fetched.start_time == start
    assert fetched.end_time == end


async def test_duplicate_id_is_already_exists(stub):
    request = pb.CreateActionRequest(parent=PARENT, action_id="renewal", action=email_action())
    await stub.CreateAction(request)
    info, _ = await expect_error(
        stub.CreateAction(request), grpc.StatusCode.ALREADY_EXISTS, domain=DOMAIN
    )
    assert info.reason == "ALREADY_EXISTS"


@pytest.mark.parametrize(
    ("action_id", "action", "field"),
    [
        ("", email_action(), "action_id"),
        ("Bad_Id", email_action(), "action_id"),
        ("ok", email_action(channels=[]), "action.channels"),
        (
            "ok",
            email_action(channels=[channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_UNSPECIFIED]),
            "action.channels[1]",
        ),
        ("ok", email_action(channels=[42]), "action.channels[0]"),
        ("ok", email_action(purpose=""), "action.purpose"),
        ("ok", email_action(value=0.0), "action.value"),
        ("ok", email_action(lever=-1.0), "action.lever"),
        ("ok", email_action(base_propensity=2.0), "action.base_propensity"),
        ("ok", email_action(eligibility="profile.traits.("), "action.eligibility"),
        (
            "ok",
            email_action(content=message_content_pb2.MessageContent(text_body="x")),
            "action.content.subject",
        ),
        (
            "ok",
            email_action(
                content=message_content_pb2.MessageContent(subject="x", text_body="{{ a ")
            ),
            "action.content.text_body",
        ),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(stub, action_id, action, field):
    await expect_invalid(
        stub.CreateAction(
            pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=action)
        ),
        field=field,
    )
    listed = await stub.ListActions(pb.ListActionsRequest(parent=PARENT))
    assert list(listed.actions) == []


async def test_eligibility_syntax_error_carries_the_compiler_message(stub):
    _, bad_request = await expect_invalid(
        stub.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT, action_id="x", action=email_action(eligibility="1 +")
            )
        ),
        field="action.eligibility",
    )
    assert "Syntax error" in bad_request.field_violations[0].description


async def test_end_before_start_is_refused(stub):
    action = email_action()
    action.start_time.seconds = 2_000
    action.end_time.seconds = 1_000
    await expect_invalid(
        stub.CreateAction(pb.CreateActionRequest(parent=PARENT, action_id="x", action=action)),
        field="action.end_time",
    )


async def test_names_and_workspaces(stub):
    await expect_invalid(
        stub.CreateAction(pb.CreateActionRequest(parent="", action_id="x", action=email_action())),
        field="parent",
    )
    info, _ = await expect_error(
        stub.CreateAction(
            pb.CreateActionRequest(parent="workspaces/other", action_id="x", action=email_action())
        ),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    assert info.metadata["resource"] == "workspaces/other"
    await expect_invalid(stub.GetAction(pb.GetActionRequest(name="actions/x")), field="name")
    await expect_error(
        stub.GetAction(pb.GetActionRequest(name="workspaces/other/actions/x")),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    await expect_error(
        stub.ListActions(pb.ListActionsRequest(parent="workspaces/other")),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )


async def test_pagination_across_pages(stub):
    ids = [f"action-{i:02d}" for i in range(7)]
    for action_id in reversed(ids):
        await stub.CreateAction(
            pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=email_action())
        )
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListActions(
            pb.ListActionsRequest(parent=PARENT, page_size=3, page_token=token)
        )
        pages += 1
        seen.extend(a.name.rsplit("/", 1)[1] for a in page.actions)
        token = page.next_page_token
        if not token:
            break
    assert seen == ids
    assert pages == 3

    await expect_invalid(
        stub.ListActions(pb.ListActionsRequest(parent=PARENT, page_size=-1)), field="page_size"
    )
    await expect_invalid(
        stub.ListActions(pb.ListActionsRequest(parent=PARENT, page_token="garbage!")),
        field="page_token",
    )
    first = await stub.ListActions(pb.ListActionsRequest(parent=PARENT, page_size=2))
    # A token from ListActions is refused by ListTriggers (bound to its request).
    await expect_invalid(
        stub.ListTriggers(pb.ListTriggersRequest(parent=PARENT, page_token=first.next_page_token)),
        field="page_token",
    )


# -- triggers ------------------------------------------------------------------------


def renewal_trigger(**changes) -> pb.Trigger:
    trigger = pb.Trigger(
        event_name="Policy Renewal Due",
        condition="event.properties.days_left <= 30",
        action="workspaces/default/actions/renewal",
        channel=channel_pb2.CHANNEL_EMAIL,
    )
    for key, value in changes.items():
        setattr(trigger, key, value)
    return trigger


async def test_create_and_list_triggers(stub):
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id="renewal", action=email_action())
    )
    created = await stub.CreateTrigger(
        pb.CreateTriggerRequest(parent=PARENT, trigger_id="renewal-due", trigger=renewal_trigger())
    )
    assert created.name == "workspaces/default/triggers/renewal-due"
    assert created.action == "workspaces/default/actions/renewal"
    assert created.channel == channel_pb2.CHANNEL_EMAIL
    assert created.create_time.seconds > 0

    for i in range(4):
        await stub.CreateTrigger(
            pb.CreateTriggerRequest(parent=PARENT, trigger_id=f"t{i}", trigger=renewal_trigger())
        )
    first = await stub.ListTriggers(pb.ListTriggersRequest(parent=PARENT, page_size=3))
    second = await stub.ListTriggers(
        pb.ListTriggersRequest(parent=PARENT, page_size=3, page_token=first.next_page_token)
    )
    assert [t.name.rsplit("/", 1)[1] for t in [*first.triggers, *second.triggers]] == [
        "renewal-due",
        "t0",
        "t1",
        "t2",
        "t3",
    ]
    assert second.next_page_token == ""

    await expect_error(
        stub.CreateTrigger(
            pb.CreateTriggerRequest(parent=PARENT, trigger_id="t0", trigger=renewal_trigger())
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        domain=DOMAIN,
    )


@pytest.mark.parametrize(
    ("trigger_id", "trigger", "field"),
    [
        ("", renewal_trigger(), "trigger_id"),
        ("t", renewal_trigger(event_name=""), "trigger.event_name"),
        ("t", renewal_trigger(condition="event.("), "trigger.condition"),
        ("t", renewal_trigger(action=""), "trigger.action"),
        ("t", renewal_trigger(action="renewal"), "trigger.action"),
        ("t", renewal_trigger(action="workspaces/default/actions/nope"), "trigger.action"),
        ("t", renewal_trigger(action="workspaces/other/actions/renewal"), "trigger.action"),
        ("t", renewal_trigger(channel=channel_pb2.CHANNEL_UNSPECIFIED), "trigger.channel"),
        ("t", renewal_trigger(channel=channel_pb2.CHANNEL_PUSH), "trigger.channel"),
    ],
)
async def test_bad_triggers_are_refused_and_change_nothing(stub, trigger_id, trigger, field):
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id="renewal", action=email_action())
    )
    await expect_invalid(
        stub.CreateTrigger(
            pb.CreateTriggerRequest(parent=PARENT, trigger_id=trigger_id, trigger=trigger)
        ),
        field=field,
    )
    listed = await stub.ListTriggers(pb.ListTriggersRequest(parent=PARENT))
    assert list(listed.triggers) == []


async def test_missing_action_says_no_such_action(stub):
    _, bad_request = await expect_invalid(
        stub.CreateTrigger(
            pb.CreateTriggerRequest(parent=PARENT, trigger_id="t", trigger=renewal_trigger())
        ),
        field="trigger.action",
    )
    assert bad_request.field_violations[0].description == "no such action"


async def test_deleting_an_action_used_by_a_trigger_is_refused_naming_it(stub):
    # Deliberate change: the trigger used to be deleted silently with its action.
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id="renewal", action=email_action())
    )
    await stub.CreateTrigger(
        pb.CreateTriggerRequest(parent=PARENT, trigger_id="t", trigger=renewal_trigger())
    )
    name = "workspaces/default/actions/renewal"
    info, _ = await expect_error(
        stub.DeleteAction(pb.DeleteActionRequest(name=name)),
        grpc.StatusCode.FAILED_PRECONDITION,
        domain=DOMAIN,
    )
    assert info.reason == "ACTION_IN_USE"
    assert info.metadata["triggers"] == "workspaces/default/triggers/t"
    listed = await stub.ListTriggers(pb.ListTriggersRequest(parent=PARENT))
    assert [t.name for t in listed.triggers] == ["workspaces/default/triggers/t"]
    assert (await stub.GetAction(pb.GetActionRequest(name=name))).name == name

    await stub.DeleteTrigger(pb.DeleteTriggerRequest(name="workspaces/default/triggers/t"))
    await stub.DeleteAction(pb.DeleteActionRequest(name=name))
    await expect_error(
        stub.GetAction(pb.GetActionRequest(name=name)), grpc.StatusCode.NOT_FOUND, domain=DOMAIN
    )


async def test_page_tokens_carry_over_to_replicas_sharing_the_key(serve, make_settings):
    async with serve(make_settings(page_token_key="shared-key")) as stub:
        for action_id in ("a", "b", "c"):
            await stub.CreateAction(
                pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=email_action())
            )
        first = await stub.ListActions(pb.ListActionsRequest(parent=PARENT, page_size=2))
    # Another process (replica) on the same database with the same key goes on...
    async with serve(make_settings(page_token_key="shared-key")) as stub:
        rest = await stub.ListActions(
            pb.ListActionsRequest(parent=PARENT, page_size=2, page_token=first.next_page_token)
        )
        assert [a.name.rsplit("/", 1)[1] for a in rest.actions] == ["c"]
    # ...one with another key cannot read the token.
    async with serve(make_settings(page_token_key="other-key")) as stub:
        await expect_invalid(
            stub.ListActions(
                pb.ListActionsRequest(parent=PARENT, page_size=2, page_token=first.next_page_token)
            ),
            field="page_token",
        )


async def test_workspaces_are_the_suite_wide_setting(serve, make_settings, tmp_path, monkeypatch):
    path = tmp_path / "workspaces.yaml"
    path.write_text("workspaces: [default, brand-b]\n")
    monkeypatch.setenv(WORKSPACES_FILE_ENV, str(path))
    assert make_settings().workspaces == ["default", "brand-b"]
    # The constructor still wins.
    async with serve(make_settings(workspaces=["brand-b"])) as stub:
        listed = await stub.ListActions(pb.ListActionsRequest(parent="workspaces/brand-b"))
        assert list(listed.actions) == []
        await expect_error(
            stub.ListActions(pb.ListActionsRequest(parent=PARENT)),
            grpc.StatusCode.NOT_FOUND,
            domain=DOMAIN,
        )
