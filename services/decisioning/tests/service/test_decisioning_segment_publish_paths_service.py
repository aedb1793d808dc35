"""The segments of segment triggers are confirmed with profile (GetSegment) on the paths
that publish or write triggers besides Create/Update/Publish: RollbackDecisionConfig,
ImportDecisionConfig and the catalogue file applied at start-up. A missing segment is
FAILED_PRECONDITION SEGMENT_NOT_FOUND (a refused start for the file), profile away is
UNAVAILABLE (a start without the file, applied once profile answers); nothing changes."""

from __future__ import annotations

import asyncio
import logging
import textwrap

import grpc
import pytest
import yaml
from rapport.decisioning.bootstrap import StartupError, build
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually, expect_error
from rapport.type.v1 import channel_pb2

from .._decisioning_support import publish

PARENT = "workspaces/default"
VIP = "workspaces/default/segments/vip"
GONE = "workspaces/default/segments/gone"
VIP_TRIGGER = "workspaces/default/triggers/vip-welcome"
# More failures than any call makes before the test lets profile answer again.
PROFILE_AWAY = [grpc.StatusCode.UNAVAILABLE] * 100_000


async def _action(stub) -> None:
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


async def _create_trigger(stub, trigger_id: str, **fields) -> None:
    await stub.CreateTrigger(
        pb.CreateTriggerRequest(
            parent=PARENT,
            trigger_id=trigger_id,
            trigger=pb.Trigger(
                action="workspaces/default/actions/reminder",
                channel=channel_pb2.CHANNEL_EMAIL,
                **fields,
            ),
        )
    )


async def _versions(stub) -> list[pb.DecisionConfigVersion]:
    """Every version, newest first."""
    listed = await stub.ListDecisionConfigVersions(
        pb.ListDecisionConfigVersionsRequest(parent=PARENT, page_size=100)
    )
    return list(listed.decision_config_versions)


async def _exported(stub, version: str = "") -> str:
    """A version's configuration as YAML (the draft's without one)."""
    exported = await stub.ExportDecisionConfig(
        pb.ExportDecisionConfigRequest(parent=PARENT, version=version)
    )
    return exported.content


async def _trigger_ids(stub, version: str = "") -> set[str]:
    document = yaml.safe_load(await _exported(stub, version)) or {}
    return {t["id"] for t in document.get("triggers", [])}


# -- RollbackDecisionConfig ------------------------------------------------------------


async def _two_versions_the_first_with_a_vip_trigger(stub, fake_services) -> list[str]:
    """v1 has the VIP trigger, v2 (live) not; the draft has an unpublished edit."""
    await _action(stub)
    fake_services.profile.segments.add(VIP)
    await _create_trigger(stub, "vip-welcome", kind=pb.TRIGGER_KIND_SEGMENT_ENTERED, segment=VIP)
    first = await publish(stub)
    await stub.DeleteTrigger(pb.DeleteTriggerRequest(name=VIP_TRIGGER))
    second = await publish(stub)
    await _create_trigger(stub, "wip-unpublished", event_name="Work In Progress")
    return [first.name, second.name]


async def test_rolling_back_to_a_version_whose_segment_is_gone_is_refused(stub, fake_services):
    first, second = await _two_versions_the_first_with_a_vip_trigger(stub, fake_services)
    fake_services.profile.segments.discard(VIP)  # deleted in profile since v1
    draft_before = await _exported(stub)
    info, _ = await expect_error(
        stub.RollbackDecisionConfig(pb.RollbackDecisionConfigRequest(name=first)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert info.reason == "SEGMENT_NOT_FOUND"
    assert (info.metadata["segment"], info.metadata["trigger"]) == (VIP, VIP_TRIGGER)
    assert info.metadata["field"] == "trigger.segment"
    # Nothing changed: v2 still live, the draft's unpublished edit kept.
    versions = await _versions(stub)
    assert [(v.name, v.live) for v in versions] == [(second, True), (first, False)]
    assert await _exported(stub) == draft_before

    fake_services.profile.segments.add(VIP)
    rolled_back = await stub.RollbackDecisionConfig(pb.RollbackDecisionConfigRequest(name=first))
    assert rolled_back.live and rolled_back.trigger_count == 1
    assert await _trigger_ids(stub) == {"vip-welcome"}


async def test_rolling_back_while_profile_is_away_is_unavailable_and_changes_nothing(
    stub, fake_services
):
    first, second = await _two_versions_the_first_with_a_vip_trigger(stub, fake_services)
    draft_before = await _exported(stub)
    fake_services.profile.fail_get_segment_with = list(PROFILE_AWAY)
    await expect_error(
        stub.RollbackDecisionConfig(pb.RollbackDecisionConfigRequest(name=first)),
        grpc.StatusCode.UNAVAILABLE,
    )
    assert [v.name for v in await _versions(stub)] == [second, first]
    assert await _exported(stub) == draft_before


async def test_rolling_back_to_a_version_without_segment_triggers_asks_nothing(stub, fake_services):
    await _action(stub)
    await _create_trigger(stub, "renewal", event_name="Renewal Due")
    first = await publish(stub)
    await stub.DeleteTrigger(pb.DeleteTriggerRequest(name=f"{PARENT}/triggers/renewal"))
    await publish(stub)
    fake_services.profile.fail_get_segment_with = list(PROFILE_AWAY)
    rolled_back = await stub.RollbackDecisionConfig(
        pb.RollbackDecisionConfigRequest(name=first.name)
    )
    assert rolled_back.live
    assert fake_services.profile.get_segment_requests == []


# -- ImportDecisionConfig --------------------------------------------------------------

IMPORTED = textwrap.dedent(
    """
    triggers:
      - id: renewal
        event_name: Renewal Due
        action: reminder
        channel: email
      - id: gone-welcome
        kind: segment_entered
        segment: workspaces/default/segments/gone
        action: reminder
        channel: email
    """
)


@pytest.mark.parametrize("merge", [False, True])
async def test_importing_a_trigger_on_a_missing_segment_is_refused(stub, fake_services, merge):
    await _action(stub)
    await _create_trigger(stub, "wip-unpublished", event_name="Work In Progress")
    draft_before = await _exported(stub)
    content = IMPORTED
    if not merge:  # the whole draft: its action and the document's triggers
        document = yaml.safe_load(draft_before)
        document["triggers"] = yaml.safe_load(IMPORTED)["triggers"]
        content = yaml.safe_dump(document)
    request = pb.ImportDecisionConfigRequest(parent=PARENT, content=content, merge=merge)
    info, _ = await expect_error(
        stub.ImportDecisionConfig(request), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert info.reason == "SEGMENT_NOT_FOUND"
    assert info.metadata["segment"] == GONE
    assert info.metadata["trigger"] == f"{PARENT}/triggers/gone-welcome"
    assert info.metadata["field"] == "triggers[1].segment"  # its place in the document
    assert await _exported(stub) == draft_before
    assert await _versions(stub) == []

    fake_services.profile.segments.add(GONE)
    await stub.ImportDecisionConfig(request)
    assert "gone-welcome" in await _trigger_ids(stub)


async def test_importing_while_profile_is_away_is_unavailable_and_changes_nothing(
    stub, fake_services
):
    await _action(stub)
    fake_services.profile.segments.add(GONE)
    draft_before = await _exported(stub)
    fake_services.profile.fail_get_segment_with = list(PROFILE_AWAY)
    await expect_error(
        stub.ImportDecisionConfig(
            pb.ImportDecisionConfigRequest(parent=PARENT, content=IMPORTED, merge=True)
        ),
        grpc.StatusCode.UNAVAILABLE,
    )
    assert await _exported(stub) == draft_before


# -- the catalogue file at start-up ----------------------------------------------------

CATALOGUE = textwrap.dedent(
    """
    workspace: default
    actions:
      - id: reminder
        channels: [email]
        purpose: marketing
        value: 1
        content:
          subject: s
          text_body: b
    triggers:
      - id: renewal
        event_name: Renewal Due
        action: reminder
        channel: email
    """
)
WITH_SEGMENT_TRIGGER = CATALOGUE + textwrap.indent(
    textwrap.dedent(
        """\
        - id: vip-welcome
          kind: segment_entered
          segment: workspaces/default/segments/vip
          action: reminder
          channel: email
        """
    ),
    "  ",
)


@pytest.fixture
def file_settings(tmp_path, make_settings):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    return make_settings(catalogue_file=path)


async def test_a_file_naming_a_missing_segment_stops_the_start_and_changes_nothing(
    serve, file_settings, fake_services
):
    async with serve(file_settings) as stub:
        before = await _versions(stub)
        draft_before = await _exported(stub)
    path = file_settings.catalogue_file
    path.write_text(WITH_SEGMENT_TRIGGER)
    with pytest.raises(StartupError) as caught:
        await build(file_settings)
    message = str(caught.value)
    for named in (str(path), "workspace default", "triggers[1].segment", VIP, VIP_TRIGGER):
        assert named in message
    assert fake_services.profile.get_segment_requests == [VIP]

    path.write_text(CATALOGUE)  # back to the file applied: nothing to apply
    async with serve(file_settings) as stub:
        assert [v.name for v in await _versions(stub)] == [v.name for v in before]
        assert await _exported(stub) == draft_before

    fake_services.profile.segments.add(VIP)
    path.write_text(WITH_SEGMENT_TRIGGER)
    async with serve(file_settings) as stub:
        versions = await _versions(stub)
        assert versions[0].description.startswith("catalogue file changed")
        assert "vip-welcome" in await _trigger_ids(stub, versions[0].name)
    # The same file again: profile is not asked again.
    fake_services.profile.get_segment_requests.clear()
    async with serve(file_settings):
        pass
    assert fake_services.profile.get_segment_requests == []


async def test_profile_away_at_start_up_starts_with_the_live_version_then_applies_the_file(
    serve, file_settings, fake_services, caplog
):
    caplog.set_level(logging.INFO, logger="rapport.decisioning")
    async with serve(file_settings) as stub:
        before = await _versions(stub)
    fake_services.profile.segments.add(VIP)
    file_settings.catalogue_file.write_text(WITH_SEGMENT_TRIGGER)
    fake_services.profile.fail_get_segment_with = list(PROFILE_AWAY)
    async with serve(file_settings) as stub:
        # Serving, with the live version as it was.
        assert [v.name for v in await _versions(stub)] == [v.name for v in before]
        assert await _trigger_ids(stub) == {"renewal"}
        assert any("not applied yet" in r.getMessage() for r in caplog.records)

        fake_services.profile.fail_get_segment_with = []  # profile answers again

        async def applied() -> list[pb.DecisionConfigVersion] | None:
            versions = await _versions(stub)
            return versions if len(versions) == len(before) + 1 else None

        versions = await eventually(applied)
        assert versions[0].live
        assert versions[0].description.startswith("catalogue file changed")
        assert await _trigger_ids(stub, versions[0].name) == {"renewal", "vip-welcome"}
        assert await _trigger_ids(stub) == {"renewal", "vip-welcome"}
    # Recorded as applied: the next start changes nothing.
    async with serve(file_settings) as stub:
        assert len(await _versions(stub)) == len(before) + 1


async def test_a_file_refused_once_profile_answers_is_logged_and_left_unapplied(
    serve, file_settings, fake_services, caplog
):
    caplog.set_level(logging.INFO, logger="rapport.decisioning")
    async with serve(file_settings) as stub:
        before = await _versions(stub)
        draft_before = await _exported(stub)
    file_settings.catalogue_file.write_text(WITH_SEGMENT_TRIGGER)
    fake_services.profile.fail_get_segment_with = list(PROFILE_AWAY)
    async with serve(file_settings) as stub:
        fake_services.profile.fail_get_segment_with = []  # answers: no such segment

        def refused() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.levelno == logging.ERROR]

        (error,) = await eventually(refused)
        asked = len(fake_services.profile.get_segment_requests)
        await asyncio.sleep(0.3)  # three times the longest pause between attempts
        assert (error.segment, error.trigger) == (VIP, VIP_TRIGGER)
        assert error.error_reason == "SEGMENT_NOT_FOUND"
        message = error.getMessage()
        assert str(file_settings.catalogue_file) in message and "workspace default" in message
        assert [v.name for v in await _versions(stub)] == [v.name for v in before]
        assert await _exported(stub) == draft_before
        # Given up: profile is not asked again by this process.
        assert len(fake_services.profile.get_segment_requests) == asked
    # Not recorded as applied: the next start tries the file again and refuses to start.
    with pytest.raises(StartupError, match="SEGMENT_NOT_FOUND|profile has no segment"):
        await build(file_settings)
