"""The catalogue file: loaded at start-up, create-or-replace, clear errors."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from datetime import UTC, datetime

import pytest
import yaml
from google.protobuf import field_mask_pb2
from rapport.decisioning import bootstrap
from rapport.decisioning.adapters.catalogue_file import (
    CatalogueFileError,
    parse_catalogue,
    read_catalogue,
)
from rapport.decisioning.adapters.catalogue_load_repository import CatalogueLoadRepository
from rapport.decisioning.bootstrap import StartupError, build
from rapport.decisioning.domain.model import Channel
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.errors import InvalidArgument
from rapport.grpctesting import HeldAfterRead
from rapport.type.v1 import channel_pb2

from .._decisioning_support import publish

PARENT = "workspaces/default"

CATALOGUE = """
workspace: default
actions:
  - id: renewal-reminder
    display_name: Renewal reminder
    description: Policy renews soon
    channels: [email, sms]
    purpose: marketing
    value: 120
    lever: 1.5
    base_propensity: 0.3
    eligibility: 'has(profile.traits.email)'
    start_time: 2024-01-01T00:00:00Z
    end_time: "2030-01-01T00:00:00+00:00"
    content:
      subject: "Your policy renews soon, {{ traits.first_name }}"
      text_body: "Renew now"
      html_body: "<p>Renew now</p>"
  - id: banner
    channels: [inbound]
    purpose: service
    value: 5
triggers:
  - id: renewal-due
    event_name: Policy Renewal Due
    condition: 'event.properties.days_left <= 30'
    action: renewal-reminder
    channel: email
"""


def test_parse_builds_drafts_with_file_paths():
    command = parse_catalogue(__import__("yaml").safe_load(CATALOGUE))
    assert command.workspace == "default"
    first = command.actions[0]
    assert first.action_id == "renewal-reminder"
    assert first.draft.channels == [Channel.EMAIL, Channel.SMS]
    assert first.draft.value == 120.0
    assert first.draft.start_time == datetime(2024, 1, 1, tzinfo=UTC)
    assert first.draft.end_time == datetime(2030, 1, 1, tzinfo=UTC)
    assert first.fields("purpose") == "actions[0].purpose"
    assert command.triggers[0].draft.action_id == "renewal-reminder"
    assert command.triggers[0].fields.trigger_id == "triggers[0].id"


def test_workspace_defaults_to_default():
    assert parse_catalogue({"actions": []}).workspace == "default"
    assert parse_catalogue(None).actions == ()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "(top level)"),
        ({"actionz": []}, "actionz"),
        ({"actions": {}}, "actions"),
        ({"actions": ["x"]}, "actions[0]"),
        ({"actions": [{"id": "a", "colour": "red"}]}, "actions[0].colour"),
        ({"actions": [{"id": "a", "value": "lots"}]}, "actions[0].value"),
        ({"actions": [{"id": "a", "value": True}]}, "actions[0].value"),
        ({"actions": [{"id": 7}]}, "actions[0].id"),
        ({"actions": [{"id": "a", "channels": "email"}]}, "actions[0].channels"),
        ({"actions": [{"id": "a", "content": {"body": "x"}}]}, "actions[0].content.body"),
        ({"actions": [{"id": "a", "start_time": "soon"}]}, "actions[0].start_time"),
        ({"triggers": [{"id": "t", "when": "x"}]}, "triggers[0].when"),
    ],
)
def test_shape_errors_name_the_yaml_path(document, field):
    with pytest.raises(InvalidArgument) as caught:
        parse_catalogue(document)
    assert caught.value.field == field


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(CatalogueFileError, match="cannot be read"):
        read_catalogue(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("actions: [\n")
    with pytest.raises(CatalogueFileError, match="not valid YAML"):
        read_catalogue(bad)


async def test_loaded_at_start_up_and_idempotent_across_restarts(tmp_path, serve, make_settings):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    settings = make_settings(catalogue_file=path)
    async with serve(settings) as stub:
        listed = await stub.ListActions(pb.ListActionsRequest(parent="workspaces/default"))
        first = {a.name: a for a in listed.actions}
        triggers = await stub.ListTriggers(pb.ListTriggersRequest(parent="workspaces/default"))
    reminder = first["workspaces/default/actions/renewal-reminder"]
    assert reminder.lever == 1.5 and reminder.base_propensity == 0.3
    assert list(reminder.channels) == [channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS]
    assert reminder.content.html_body == "<p>Renew now</p>"
    assert reminder.start_time.seconds == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    assert first["workspaces/default/actions/banner"].base_propensity == 0.5
    assert [t.name for t in triggers.triggers] == ["workspaces/default/triggers/renewal-due"]
    assert triggers.triggers[0].action == "workspaces/default/actions/renewal-reminder"

    # Restart with a changed value: replaced in place, nothing duplicated.
    path.write_text(CATALOGUE.replace("value: 120", "value: 99"))
    async with serve(settings) as stub:
        listed = await stub.ListActions(pb.ListActionsRequest(parent="workspaces/default"))
        triggers = await stub.ListTriggers(pb.ListTriggersRequest(parent="workspaces/default"))
    again = {a.name: a for a in listed.actions}
    assert set(again) == set(first)
    changed = again["workspaces/default/actions/renewal-reminder"]
    assert changed.value == 99.0
    assert changed.create_time == reminder.create_time
    assert len(triggers.triggers) == 1


def _broken(old: str, new: str) -> str:
    assert old in CATALOGUE
    return CATALOGUE.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_broken("purpose: marketing", "purpose: ''"), "actions[0].purpose: is required"),
        (_broken("channels: [email, sms]", "channels: [email, fax]"), "actions[0].channels[1]"),
        (_broken("value: 120", "value: -1"), "actions[0].value: must be positive"),
        (_broken("id: banner", "id: Banner"), "actions[1].id"),
        (_broken("id: banner", "id: renewal-reminder"), "actions[1].id"),
        (
            _broken("'has(profile.traits.email)'", "'has(profile.traits.'"),
            "actions[0].eligibility: is not a valid CEL expression",
        ),
        (
            _broken('text_body: "Renew now"', 'text_body: "{{ x "'),
            "actions[0].content.text_body",
        ),
        (
            _broken("action: renewal-reminder", "action: nope"),
            "triggers[0].action: no such action",
        ),
        (_broken("channel: email", "channel: push"), "triggers[0].channel"),
        (_broken("workspace: default", "workspace: other"), "workspace"),
        ("actions: [\n", "not valid YAML"),
    ],
)
async def test_bad_files_fail_start_up_and_change_nothing(
    tmp_path, serve, make_settings, text, message
):
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    with pytest.raises(StartupError) as caught:
        await build(make_settings(catalogue_file=path))
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    # Nothing of the file was written (all or nothing).
    async with serve(make_settings()) as stub:
        listed = await stub.ListActions(pb.ListActionsRequest(parent="workspaces/default"))
    assert list(listed.actions) == []


async def test_triggers_may_refer_to_actions_already_stored(tmp_path, serve, make_settings):
    first = tmp_path / "actions.yaml"
    first.write_text(CATALOGUE.split("triggers:")[0])
    async with serve(make_settings(catalogue_file=first)):
        pass
    second = tmp_path / "triggers.yaml"
    second.write_text(
        textwrap.dedent(
            """
            triggers:
              - id: renewal-due
                event_name: Policy Renewal Due
                action: renewal-reminder
                channel: sms
            """
        )
    )
    async with serve(make_settings(catalogue_file=second)) as stub:
        triggers = await stub.ListTriggers(pb.ListTriggersRequest(parent="workspaces/default"))
    assert [t.channel for t in triggers.triggers] == [channel_pb2.CHANNEL_SMS]


# -- a restart applies a changed file on top of the live version, keeps the draft ------


@pytest.fixture
def file_settings(tmp_path, make_settings):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    return make_settings(catalogue_file=path)


async def _versions(stub) -> list[pb.DecisionConfigVersion]:
    """Every version, newest first."""
    listed = await stub.ListDecisionConfigVersions(
        pb.ListDecisionConfigVersionsRequest(parent=PARENT, page_size=100)
    )
    return list(listed.decision_config_versions)


async def _content(stub, version: str = "") -> dict:
    """A version's configuration (the draft's without one), by kind and id."""
    exported = await stub.ExportDecisionConfig(
        pb.ExportDecisionConfigRequest(parent=PARENT, version=version)
    )
    document = yaml.safe_load(exported.content)
    return {
        kind: {item["id"]: item for item in document.get(kind, [])}
        for kind in ("actions", "triggers")
    }


async def _set_value(stub, action_id: str, value: float) -> None:
    await stub.UpdateAction(
        pb.UpdateActionRequest(
            action=pb.Action(name=f"{PARENT}/actions/{action_id}", value=value),
            update_mask=field_mask_pb2.FieldMask(paths=["value"]),
        )
    )


async def _create_trigger(stub, trigger_id: str, channel=channel_pb2.CHANNEL_EMAIL) -> None:
    await stub.CreateTrigger(
        pb.CreateTriggerRequest(
            parent=PARENT,
            trigger_id=trigger_id,
            trigger=pb.Trigger(
                event_name="Work In Progress",
                action=f"{PARENT}/actions/renewal-reminder",
                channel=channel,
            ),
        )
    )


async def _create_inbound_action(stub, action_id: str, value: float) -> None:
    action = pb.Action(channels=[channel_pb2.CHANNEL_INBOUND], purpose="service", value=value)
    await stub.CreateAction(
        pb.CreateActionRequest(parent=PARENT, action_id=action_id, action=action)
    )


async def test_a_restart_with_the_same_file_publishes_nothing_and_keeps_the_draft(
    serve, file_settings
):
    async with serve(file_settings) as stub:
        await _set_value(stub, "renewal-reminder", 999.0)
        published = await publish(stub)
        await _create_trigger(stub, "wip-unpublished")
        before = await _versions(stub)
    assert before[0].name == published.name
    async with serve(file_settings) as stub:
        after = await _versions(stub)
        live = await _content(stub, after[0].name)
        draft = await _content(stub)
    assert [v.name for v in after] == [v.name for v in before]
    assert live["actions"]["renewal-reminder"]["value"] == 999.0
    assert "wip-unpublished" not in live["triggers"]
    assert "wip-unpublished" in draft["triggers"]
    assert draft["actions"]["renewal-reminder"]["value"] == 999.0


async def test_a_changed_file_publishes_live_and_file_and_keeps_the_draft_edits(
    serve, file_settings
):
    async with serve(file_settings) as stub:
        await _create_inbound_action(stub, "api-offer", 10.0)
        await publish(stub)
        await _set_value(stub, "banner", 6.0)  # unpublished, on an item the file names
        await _create_trigger(stub, "wip-unpublished")
        before = await _versions(stub)
    file_settings.catalogue_file.write_text(CATALOGUE.replace("value: 120", "value: 99"))
    async with serve(file_settings) as stub:
        after = await _versions(stub)
        live = await _content(stub, after[0].name)
        draft = await _content(stub)
    assert len(after) == len(before) + 1
    assert after[0].live
    assert after[0].description.startswith("catalogue file changed")
    number = before[0].name.rsplit("/", 1)[1]
    assert after[0].description.endswith(f"applied on top of version {number}")
    # Live: the live version plus the file; nothing of the draft.
    assert live["actions"]["renewal-reminder"]["value"] == 99.0
    assert live["actions"]["api-offer"]["value"] == 10.0
    assert live["actions"]["banner"]["value"] == 5.0
    assert set(live["triggers"]) == {"renewal-due"}
    # The draft: its own edits, with the file's items (publishing it keeps the file).
    assert draft["actions"]["renewal-reminder"]["value"] == 99.0
    assert "wip-unpublished" in draft["triggers"]
    assert draft["actions"]["banner"]["value"] == 5.0  # the file's word on its items


async def test_a_published_api_edit_of_an_item_the_file_does_not_name_survives(
    serve, file_settings
):
    async with serve(file_settings) as stub:
        await _create_inbound_action(stub, "api-offer", 10.0)
        await publish(stub)
        await _set_value(stub, "api-offer", 20.0)
        await publish(stub)
        await _set_value(stub, "api-offer", 30.0)  # not published
    file_settings.catalogue_file.write_text(CATALOGUE.replace("value: 5", "value: 7"))
    async with serve(file_settings) as stub:
        versions = await _versions(stub)
        live = await _content(stub, versions[0].name)
        draft = await _content(stub)
    assert live["actions"]["banner"]["value"] == 7.0
    assert live["actions"]["api-offer"]["value"] == 20.0
    assert draft["actions"]["api-offer"]["value"] == 30.0
    assert draft["actions"]["banner"]["value"] == 7.0


async def test_a_draft_that_cannot_take_the_changed_file_is_kept_and_said(
    serve, file_settings, caplog
):
    caplog.set_level(logging.WARNING, logger="rapport.decisioning")
    async with serve(file_settings) as stub:
        await _create_trigger(stub, "wip-sms", channel_pb2.CHANNEL_SMS)  # unpublished
    # The file drops SMS from the action the draft's trigger sends by SMS.
    file_settings.catalogue_file.write_text(_broken("channels: [email, sms]", "channels: [email]"))
    async with serve(file_settings) as stub:
        versions = await _versions(stub)
        live = await _content(stub, versions[0].name)
        draft = await _content(stub)
    assert versions[0].description.startswith("catalogue file changed")
    assert live["actions"]["renewal-reminder"]["channels"] == ["email"]
    assert draft["actions"]["renewal-reminder"]["channels"] == ["email", "sms"]
    assert "wip-sms" in draft["triggers"]
    (warning,) = [r for r in caplog.records if "publishing the draft would undo" in r.getMessage()]
    assert "wip-sms" in warning.error_reason


async def test_replicas_starting_together_apply_a_changed_file_once(
    serve, file_settings, monkeypatch
):
    async with serve(file_settings):
        pass
    file_settings.catalogue_file.write_text(CATALOGUE.replace("value: 120", "value: 99"))
    # Migrations run one at a time in this one process (alembic's context is global;
    # replicas are processes); the catalogue file is what the replicas race on.
    migrating = asyncio.Lock()
    migrate = bootstrap.migrate

    async def one_migration_at_a_time(*args, **kwargs):
        async with migrating:
            return await migrate(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "migrate", one_migration_at_a_time)
    # The first replica holds after reading the digest last applied, the second starts.
    held = HeldAfterRead(monkeypatch, CatalogueLoadRepository, "digest")
    first = asyncio.ensure_future(build(file_settings))
    await held.reached.wait()
    second = asyncio.ensure_future(build(file_settings))
    await asyncio.sleep(0.3)  # the second waits for the draft's lock (or to migrate)
    held.release.set()
    for parts in await asyncio.gather(first, second):
        for close in parts.on_close:
            await close()
    assert held.calls == 2  # each replica read the digest once
    async with serve(file_settings) as stub:
        versions = await _versions(stub)
    assert len(versions) == 2
    assert versions[0].description.startswith("catalogue file changed")
