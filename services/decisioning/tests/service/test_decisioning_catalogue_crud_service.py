"""The issue -> group -> action catalogue through the gRPC stub: action groups, UpdateAction
with a field mask (AIP-134), treatments and tags, UpdateTrigger and DeleteTrigger."""

from __future__ import annotations

import functools

import grpc
import pytest
from google.protobuf import field_mask_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

PARENT = "workspaces/default"
DOMAIN = "decisioning.rapport.dev"
GROUP = "workspaces/default/actionGroups/renewals"
ACTION = "workspaces/default/actions/renewal"
TRIGGER = "workspaces/default/triggers/due"
expect_invalid = functools.partial(
    expect_error, code=grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN
)


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def content(subject: str = "s", text_body: str = "b") -> message_content_pb2.MessageContent:
    return message_content_pb2.MessageContent(subject=subject, text_body=text_body)


def renewal(**fields) -> pb.Action:
    values = {
        "display_name": "Renewal reminder",
        "channels": [channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS],
        "purpose": "marketing",
        "value": 120.0,
        "content": content("Renew", "Renew now"),
        "group": GROUP,
        "tags": ["renewal"],
        "treatments": [
            pb.Treatment(channel=channel_pb2.CHANNEL_SMS, content=content("", "Renew: reply Y"))
        ],
    }
    values.update(fields)
    return pb.Action(**values)


@pytest.fixture
async def catalogue(stub):
    await stub.CreateActionGroup(
        pb.CreateActionGroupRequest(
            parent=PARENT,
            action_group_id="renewals",
            action_group=pb.ActionGroup(
                display_name="Renewals", issue="retention", eligibility="true", lever=2.0
            ),
        )
    )
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id="renewal", action=renewal())
    )
    return stub


async def test_groups_under_issues(catalogue):
    stub = catalogue
    group = await stub.GetActionGroup(pb.GetActionGroupRequest(name=GROUP))
    assert (group.issue, group.lever, group.eligibility) == ("retention", 2.0, "true")
    assert group.create_time.seconds > 0 and not group.HasField("update_time")
    await stub.CreateActionGroup(
        pb.CreateActionGroupRequest(
            parent=PARENT, action_group_id="offers", action_group=pb.ActionGroup(issue="sales")
        )
    )
    listed = await stub.ListActionGroups(pb.ListActionGroupsRequest(parent=PARENT))
    assert [g.name.rsplit("/", 1)[1] for g in listed.action_groups] == ["offers", "renewals"]
    assert listed.action_groups[0].lever == 1.0  # 0 means 1
    retention = await stub.ListActionGroups(
        pb.ListActionGroupsRequest(parent=PARENT, issue="retention")
    )
    assert [g.name for g in retention.action_groups] == [GROUP]
    in_group = await stub.ListActions(pb.ListActionsRequest(parent=PARENT, group=GROUP))
    assert [a.name for a in in_group.actions] == [ACTION]
    other = await stub.ListActions(
        pb.ListActionsRequest(parent=PARENT, group="workspaces/default/actionGroups/offers")
    )
    assert list(other.actions) == []
    await expect_error(
        stub.CreateActionGroup(
            pb.CreateActionGroupRequest(
                parent=PARENT, action_group_id="offers", action_group=pb.ActionGroup()
            )
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        domain=DOMAIN,
    )


async def test_a_group_in_use_is_not_deleted(catalogue):
    stub = catalogue
    info, _ = await expect_error(
        stub.DeleteActionGroup(pb.DeleteActionGroupRequest(name=GROUP)),
        grpc.StatusCode.FAILED_PRECONDITION,
        domain=DOMAIN,
    )
    assert info.reason == "ACTION_GROUP_IN_USE" and info.metadata["actions"] == ACTION
    await stub.UpdateAction(
        pb.UpdateActionRequest(action=pb.Action(name=ACTION), update_mask=mask("group"))
    )
    await stub.DeleteActionGroup(pb.DeleteActionGroupRequest(name=GROUP))
    await expect_error(
        stub.GetActionGroup(pb.GetActionGroupRequest(name=GROUP)),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )


async def test_update_group_with_a_mask(catalogue):
    stub = catalogue
    updated = await stub.UpdateActionGroup(
        pb.UpdateActionGroupRequest(
            action_group=pb.ActionGroup(name=GROUP, suitability="false", display_name="ignored"),
            update_mask=mask("suitability"),
        )
    )
    assert (updated.suitability, updated.display_name) == ("false", "Renewals")
    assert updated.update_time.seconds > 0
    await expect_invalid(
        stub.UpdateActionGroup(
            pb.UpdateActionGroupRequest(
                action_group=pb.ActionGroup(name=GROUP, eligibility="profile.("),
                update_mask=mask("eligibility"),
            )
        ),
        field="action_group.eligibility",
    )


async def test_treatments_tags_and_group_round_trip(catalogue):
    fetched = await catalogue.GetAction(pb.GetActionRequest(name=ACTION))
    assert fetched.group == GROUP
    assert list(fetched.tags) == ["renewal"]
    assert [(t.channel, t.content.text_body) for t in fetched.treatments] == [
        (channel_pb2.CHANNEL_SMS, "Renew: reply Y")
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"group": "workspaces/default/actionGroups/nope"}, "action.group"),
        ({"group": "workspaces/other/actionGroups/renewals"}, "action.group"),
        ({"group": "renewals"}, "action.group"),
        ({"tags": ["Renewal"]}, "action.tags[0]"),
        ({"tags": ["a", "a"]}, "action.tags[1]"),
        ({"tags": [f"t{i}" for i in range(21)]}, "action.tags"),
        (
            {"treatments": [pb.Treatment(channel=channel_pb2.CHANNEL_PUSH, content=content())]},
            "action.treatments[0].channel",
        ),
        (
            {
                "treatments": [
                    pb.Treatment(channel=channel_pb2.CHANNEL_SMS, content=content()),
                    pb.Treatment(channel=channel_pb2.CHANNEL_SMS, content=content()),
                ]
            },
            "action.treatments[1].channel",
        ),
        (
            {
                "treatments": [
                    pb.Treatment(channel=channel_pb2.CHANNEL_SMS, content=content("s", ""))
                ]
            },
            "action.treatments[0].content.text_body",
        ),
        (
            {"treatments": [pb.Treatment(channel=channel_pb2.CHANNEL_EMAIL, content=content(""))]},
            "action.treatments[0].content.subject",
        ),
        ({"applicability": "context.("}, "action.applicability"),
        ({"suitability": "nope(1)"}, "action.suitability"),
    ],
)
async def test_bad_catalogue_fields_are_refused_and_change_nothing(catalogue, fields, field):
    stub = catalogue
    await expect_invalid(
        stub.CreateAction(
            pb.CreateActionRequest(parent=PARENT, action_id="other", action=renewal(**fields))
        ),
        field=field,
    )
    listed = await stub.ListActions(pb.ListActionsRequest(parent=PARENT))
    assert [a.name for a in listed.actions] == [ACTION]


async def test_update_action_changes_the_masked_fields_only(catalogue):
    stub = catalogue
    before = await stub.GetAction(pb.GetActionRequest(name=ACTION))
    updated = await stub.UpdateAction(
        pb.UpdateActionRequest(
            action=pb.Action(name=ACTION, value=300.0, display_name="not in the mask"),
            update_mask=mask("value"),
        )
    )
    assert updated.value == 300.0 and updated.display_name == "Renewal reminder"
    assert updated.create_time == before.create_time and updated.update_time.seconds > 0
    assert list(updated.tags) == ["renewal"] and updated.group == GROUP

    # A sub-field of the content.
    updated = await stub.UpdateAction(
        pb.UpdateActionRequest(
            action=pb.Action(name=ACTION, content=content("New subject", "ignored")),
            update_mask=mask("content.subject"),
        )
    )
    assert (updated.content.subject, updated.content.text_body) == ("New subject", "Renew now")

    # No mask: the fields set in the request.
    updated = await stub.UpdateAction(
        pb.UpdateActionRequest(action=pb.Action(name=ACTION, description="Renew", lever=3.0))
    )
    assert (updated.description, updated.lever, updated.value) == ("Renew", 3.0, 300.0)

    # `*`: everything, defaults for what is not set.
    updated = await stub.UpdateAction(
        pb.UpdateActionRequest(
            action=pb.Action(
                name=ACTION,
                channels=[channel_pb2.CHANNEL_INBOUND],
                purpose="service",
                value=5.0,
            ),
            update_mask=mask("*"),
        )
    )
    assert list(updated.channels) == [channel_pb2.CHANNEL_INBOUND]
    assert (updated.group, list(updated.tags), updated.lever) == ("", [], 1.0)
    assert updated.content.subject == "" and list(updated.treatments) == []


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"update_mask": mask("value", "colour")}, "update_mask.paths[1]"),
        ({"update_mask": mask("content.body")}, "update_mask.paths[0]"),
        ({"action": pb.Action(name=ACTION, value=-1.0), "update_mask": mask("value")},
         "action.value"),
        ({"action": pb.Action(name=ACTION), "update_mask": mask("purpose")}, "action.purpose"),
        ({"action": pb.Action(name="renewal", value=2.0)}, "action.name"),
        ({"action": pb.Action(name=ACTION, group="workspaces/default/actionGroups/x"),
          "update_mask": mask("group")}, "action.group"),
    ],
)  # fmt: skip
async def test_bad_updates_are_refused_and_change_nothing(catalogue, request_fields, field):
    stub = catalogue
    before = await stub.GetAction(pb.GetActionRequest(name=ACTION))
    values = {"action": pb.Action(name=ACTION, value=2.0), **request_fields}
    await expect_invalid(stub.UpdateAction(pb.UpdateActionRequest(**values)), field=field)
    assert await stub.GetAction(pb.GetActionRequest(name=ACTION)) == before


async def test_output_only_fields_in_a_mask_are_ignored(catalogue):
    updated = await catalogue.UpdateAction(
        pb.UpdateActionRequest(
            action=pb.Action(name=ACTION, value=9.0), update_mask=mask("value", "create_time")
        )
    )
    assert updated.value == 9.0


async def test_update_unknown_action_is_not_found(stub):
    name = "workspaces/default/actions/nope"
    info, _ = await expect_error(
        stub.UpdateAction(pb.UpdateActionRequest(action=pb.Action(name=name, value=1.0))),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    assert info.metadata["resource"] == name


async def test_triggers_update_and_delete(catalogue):
    stub = catalogue
    await stub.CreateTrigger(
        pb.CreateTriggerRequest(
            parent=PARENT,
            trigger_id="due",
            trigger=pb.Trigger(
                event_name="Policy Renewal Due", action=ACTION, channel=channel_pb2.CHANNEL_EMAIL
            ),
        )
    )
    updated = await stub.UpdateTrigger(
        pb.UpdateTriggerRequest(
            trigger=pb.Trigger(name=TRIGGER, channel=channel_pb2.CHANNEL_SMS),
            update_mask=mask("channel"),
        )
    )
    assert updated.channel == channel_pb2.CHANNEL_SMS and updated.event_name == "Policy Renewal Due"
    await expect_invalid(
        stub.UpdateTrigger(
            pb.UpdateTriggerRequest(
                trigger=pb.Trigger(name=TRIGGER, channel=channel_pb2.CHANNEL_PUSH),
                update_mask=mask("channel"),
            )
        ),
        field="trigger.channel",
    )
    # The action cannot lose the channel a trigger sends it on.
    info, _ = await expect_error(
        stub.UpdateAction(
            pb.UpdateActionRequest(
                action=pb.Action(name=ACTION, channels=[channel_pb2.CHANNEL_EMAIL]),
                update_mask=mask("channels", "treatments"),
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        domain=DOMAIN,
    )
    assert info.reason == "ACTION_IN_USE" and info.metadata["triggers"] == TRIGGER

    await stub.DeleteTrigger(pb.DeleteTriggerRequest(name=TRIGGER))
    await expect_error(
        stub.GetTrigger(pb.GetTriggerRequest(name=TRIGGER)),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    await expect_error(
        stub.DeleteTrigger(pb.DeleteTriggerRequest(name=TRIGGER)),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
